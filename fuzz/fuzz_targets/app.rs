//! The application-message parsers (DNS, HTTP, TLS, SSH, QUIC) and their rendering in words.
//! Byte 0 picks the parser; the rest is the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::decode::app::{self, dns, ssh, App, Http, Quic, Tls};
use sockscope::render::describe::app::{app as describe, Whole};

#[path = "common.rs"]
mod common;

fn show(a: &App<'_>) {
    for whole in [Whole::Yes, Whole::FirstFragment, Whole::Cut] {
        let mut s = String::new();
        describe(&mut s, a, whole);
        common::assert_terminal_safe(s.as_bytes(), "described");
        assert!(!s.contains('\n'), "one line: {s:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [which, p @ ..] = data else { return };
    match which % 8 {
        0 => {
            let d = match dns::Message::parse(p) {
                Ok(m) => app::Dns::Message(m),
                Err(error) => app::Dns::Damaged {
                    header: dns::header(p),
                    error,
                },
            };
            show(&App::Dns(d));
        }
        1 => {
            if let Some(m) = dns::Message::parse_strict(p) {
                show(&App::Dns(app::Dns::Message(m)));
            }
            for at in 0..p.len().min(16) {
                let _ = dns::read_name(p, at);
            }
        }
        2 => {
            if let Some(h) = Http::parse(p) {
                show(&App::Http(h.clone()));
                show(&App::Ssdp(h));
            }
        }
        3 => {
            if let Some(t) = Tls::parse(p) {
                show(&App::Tls(t));
            }
        }
        4 => {
            if let Some(b) = ssh::Banner::parse(p) {
                show(&App::Ssh(b));
            }
        }
        5 => {
            if let Some(s) = ssh::packets(p) {
                show(&App::SshPackets(s));
            }
        }
        6 => {
            if let Some(q) = Quic::parse(p) {
                show(&App::Quic(q));
            }
        }
        _ => {
            if let Some(m) = dns::Message::parse_strict(p) {
                show(&App::Dns(app::Dns::Message(m)));
            }
        }
    }
});
