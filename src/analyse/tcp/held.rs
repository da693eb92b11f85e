//! How a conversation is held in the table: a conversation of one segment as that segment
//! alone ([`Lone`], a few dozen bytes), anything longer as the full state ([`Conv`], boxed).
//!
//! The analysis is a pure function of the segments fed to it, so a conversation held as its
//! first segment is turned into the full state, when a second one comes, by feeding that
//! first segment again to a fresh [`Conv`]: the state is the same as if it had been kept. A
//! port scan or a SYN flood is mostly such conversations.

use super::conv::{Conv, Seg};
use super::options::Options;
use crate::analyse::{Findings, TcpVerdict};

/// One segment to analyse, as [`super::TcpAnalyser`] was given it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub s: Seg,
    pub dir: usize,
    pub opts: &'a Options,
    /// The option area runs past the captured bytes (see `TcpAnalyser::observe_with`).
    pub cut: bool,
    /// The segment's length is unknown: a first fragment, or a header quoted in ICMP.
    pub header_only: bool,
}

impl Input<'_> {
    /// Feeds the segment to `conv`. For a header-only segment the verdict carries the stream
    /// alone.
    pub fn apply(&self, conv: &mut Conv, findings: Findings) -> TcpVerdict {
        if !self.s.is_pure_syn() {
            conv.settled |= 1 << self.dir;
        }
        if self.header_only {
            conv.observe_header_only(self.dir, self.s, self.opts, self.cut);
            TcpVerdict {
                stream: conv.stream,
                ..TcpVerdict::default()
            }
        } else {
            conv.observe(self.dir, self.s, self.opts, findings, self.cut)
        }
    }
}

/// A conversation of one segment: that segment, with the one option the analysis keeps from
/// it (window scale; segments with SACK blocks or MPTCP options are held in full).
#[derive(Debug, Clone, Copy)]
pub struct Lone {
    stream: u64,
    frame: u64,
    /// Packet time in ns (a time that does not fit is held in full).
    time: i64,
    seq: u32,
    ack: u32,
    len: u32,
    flags: u16,
    win: u16,
    wscale: Option<u8>,
    dir: u8,
    cut: bool,
    header_only: bool,
    /// The segment finished the conversation (an RST).
    closed: bool,
}

impl Lone {
    /// `inp`, the first segment of `conv`, as a [`Lone`], if it can be held so.
    pub fn of(inp: &Input, conv: &Conv) -> Option<Lone> {
        if !inp.opts.sack_blocks().is_empty() || !inp.opts.mptcp_options().is_empty() {
            return None;
        }
        let s = &inp.s;
        Some(Lone {
            stream: conv.stream,
            frame: s.frame,
            time: i64::try_from(s.time).ok()?,
            seq: s.seq,
            ack: s.ack,
            len: s.len,
            flags: s.flags,
            win: s.win,
            wscale: inp.opts.wscale,
            dir: inp.dir as u8,
            cut: inp.cut,
            header_only: inp.header_only,
            closed: conv.is_closed(),
        })
    }

    /// The full state after this segment.
    fn replay(&self) -> Conv {
        let opts = Options {
            wscale: self.wscale,
            ..Options::default()
        };
        let inp = Input {
            s: Seg {
                frame: self.frame,
                time: i128::from(self.time),
                seq: self.seq,
                ack: self.ack,
                flags: self.flags,
                win: self.win,
                len: self.len,
            },
            dir: usize::from(self.dir),
            opts: &opts,
            cut: self.cut,
            header_only: self.header_only,
        };
        let mut conv = Conv::new(self.stream);
        inp.apply(&mut conv, Findings::default());
        conv
    }
}

#[derive(Debug)]
pub enum State {
    Lone(Lone),
    Full(Box<Conv>),
}

/// One conversation in the table.
#[derive(Debug)]
pub struct Held {
    /// When it was last seen: the analyser's segment count then.
    pub touch: u64,
    pub state: State,
}

impl Held {
    pub fn stream(&self) -> u64 {
        match &self.state {
            State::Lone(l) => l.stream,
            State::Full(c) => c.stream,
        }
    }

    pub fn is_closed(&self) -> bool {
        match &self.state {
            State::Lone(l) => l.closed,
            State::Full(c) => c.is_closed(),
        }
    }

    /// Eviction class: finished ones go first (0), then those that have not got through a
    /// handshake (1: a lone SYN, a SYN answered by a SYN/ACK only), established ones last (2).
    pub fn class(&self) -> u8 {
        match &self.state {
            _ if self.is_closed() => 0,
            State::Full(c) if c.settled == 0b11 => 2,
            _ => 1,
        }
    }

    /// Room of the unacked lists, in entries (0 for a lone segment).
    pub fn unacked_capacity(&self) -> usize {
        match &self.state {
            State::Lone(_) => 0,
            State::Full(c) => c.unacked_capacity(),
        }
    }

    /// The full state, made from the lone segment if need be.
    pub fn conv(&mut self) -> &mut Conv {
        if let State::Lone(l) = &self.state {
            self.state = State::Full(Box::new(l.replay()));
        }
        match &mut self.state {
            State::Full(c) => c,
            State::Lone(_) => unreachable!("made full just above"),
        }
    }
}
