//! tcpdump/BPF filter expressions, compiled by libpcap and run on each frame as tcpdump does.
//!
//! A pcapng file may mix link types, and a BPF program is compiled for one link type, so the
//! expression is compiled once per link type met.

use pcap::{BpfProgram, Capture, Linktype};

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter expression '{expr}' for link type {}: {msg} (use tcpdump syntax, e.g. 'tcp port 80' or 'host ::1')", crate::source::linktype::name(*.linktype))]
    Compile {
        expr: String,
        linktype: u16,
        msg: String,
    },
}

pub struct Filter {
    expr: String,
    compiled: Vec<(u16, Option<BpfProgram>)>,
}

impl Filter {
    /// Checks the expression now (against Ethernet) so that a typo fails before any output.
    pub fn new(expr: &str) -> Result<Filter, FilterError> {
        Self::for_linktype(expr, 1)
    }

    /// Checks the expression now against `linktype` (the first the capture has), or against
    /// Ethernet when libpcap does not know that link type, so that a typo fails before any
    /// output.
    pub fn for_linktype(expr: &str, linktype: u16) -> Result<Filter, FilterError> {
        let mut f = Filter {
            expr: expr.to_owned(),
            compiled: Vec::new(),
        };
        if f.program(linktype)?.is_none() {
            f.program(1)?;
        }
        Ok(f)
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    fn program(&mut self, linktype: u16) -> Result<Option<&BpfProgram>, FilterError> {
        let i = match self.compiled.iter().position(|(lt, _)| *lt == linktype) {
            Some(i) => i,
            None => {
                let prog = compile(&self.expr, linktype)?;
                self.compiled.push((linktype, prog));
                self.compiled.len() - 1
            }
        };
        Ok(self.compiled[i].1.as_ref())
    }

    /// Whether a frame of `linktype` passes. A link type libpcap cannot filter on matches
    /// nothing, and so does a record that has none (a pcapng Custom Block: `LINKTYPE_UNKNOWN`).
    pub fn matches(&mut self, linktype: u16, data: &[u8]) -> Result<bool, FilterError> {
        if linktype == crate::source::file::LINKTYPE_UNKNOWN {
            return Ok(false);
        }
        Ok(self.program(linktype)?.is_some_and(|p| p.filter(data)))
    }
}

/// The DLT libpcap compiles for, of a file's LINKTYPE: the same number, but for the few
/// LINKTYPEs below 104 whose DLT differs by platform (libpcap's `linktype_to_dlt`, Linux
/// values): RAW 101 is DLT_RAW 12, ATM_RFC1483 100 is 11, SLIP_BSDOS 102 is 15, PPP_BSDOS 103
/// is 16.
fn dlt(linktype: u16) -> i32 {
    match linktype {
        100 => 11,
        101 => 12,
        102 => 15,
        103 => 16,
        lt => i32::from(lt),
    }
}

/// Compiles for one link type; `Ok(None)` when libpcap has no such link type (or the frame
/// has none: a pcapng Custom Block, an interface never described).
fn compile(expr: &str, linktype: u16) -> Result<Option<BpfProgram>, FilterError> {
    if linktype == crate::source::file::LINKTYPE_UNKNOWN {
        return Ok(None);
    }
    let Ok(cap) = Capture::dead(Linktype(dlt(linktype))) else {
        return Ok(None);
    };
    match cap.compile(expr, true) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.to_string().contains("unknown data link type") => Ok(None),
        Err(e) => Err(FilterError::Compile {
            expr: expr.to_owned(),
            linktype,
            msg: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_expression_is_rejected_up_front() {
        let e = Filter::new("tcp prot 80").err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("invalid filter expression 'tcp prot 80'")));
    }

    #[test]
    fn a_record_without_a_link_type_matches_nothing() {
        let mut f = Filter::new("tcp").unwrap();
        let block = crate::source::file::LINKTYPE_UNKNOWN;
        assert!(!f.matches(block, b"{\"sockscope_run\":1}").unwrap());
    }

    #[test]
    fn error_names_the_link_type_as_tcpdump_does() {
        let e = Filter::new("tcp prot 80").err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("for link type EN10MB:")));
        let e = Filter::for_linktype("tcp prot 80", 113)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("for link type LINUX_SLL:")));
        // RAW (LINKTYPE 101) compiles as DLT_RAW; a frame without a link type matches nothing.
        let mut f = Filter::for_linktype("udp", 101).unwrap();
        let udp = [
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 4, 0, 0, 53, 0, 8,
            0, 0,
        ];
        assert!(f.matches(101, &udp).unwrap());
        assert!(!f
            .matches(crate::source::file::LINKTYPE_UNKNOWN, &udp)
            .unwrap());
        // An expression fit for one link type only: named with the one it fails on.
        let e = Filter::for_linktype("ether host 1:2:3:4:5:6", 101)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("for link type RAW:"), "{e}");
    }

    #[test]
    fn port_filter_on_ethernet() {
        let mut f = Filter::new("udp port 53").unwrap();
        // Ethernet + IPv4 + UDP 1234 -> 53
        let mut p = vec![0u8; 12];
        p.extend([0x08, 0x00]);
        p.extend([
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        p.extend([0x04, 0xd2, 0, 53, 0, 8, 0, 0]);
        assert!(f.matches(1, &p).unwrap());
        p[14 + 20 + 3] = 54;
        assert!(!f.matches(1, &p).unwrap());
    }
}
