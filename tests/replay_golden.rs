//! Golden timelines: the text view of chosen captures, compared with committed snapshots
//! (`tests/snapshots/`). Review a change with `cargo insta review`.

use std::path::{Path, PathBuf};

fn path(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    assert!(p.is_file(), "fixture missing: {}", p.display());
    p
}

fn timeline(rel: &str, extra: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("replay")
        .arg(path(rel))
        .args(["--color", "never"])
        .args(extra)
        .output()
        .expect("run sockscope");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

macro_rules! golden {
    ($name:ident, $file:expr) => {
        golden!($name, $file, &[]);
    };
    ($name:ident, $file:expr, $extra:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(timeline($file, $extra));
        }
    };
}

golden!(loopback_hello, "captures/hello-tcpdump.pcap");
golden!(sll_handshake_ns, "tests/fixtures/tcp-handshake-nano.pcap");
golden!(sll2_retransmission, "tests/fixtures/sll2.pcap");
golden!(ssh_sack_and_dup_acks, "tests/fixtures/ssh.pcap");
golden!(seq_wrap, "tests/fixtures/one_tcp_stream_max_seq.pcap");
golden!(pptp_big_endian, "tests/fixtures/pptp.pcap");
golden!(
    damaged_tcp_header,
    "tests/fixtures/heapoverflow-tcp_print.pcap"
);
golden!(
    cut_tcp_header,
    "tests/fixtures/tcp_header_heapoverflow.pcap"
);
golden!(
    rst_with_payload_truncated,
    "tests/fixtures/tcp_rst_diag_payload-trunc.pcap"
);
golden!(mptcp_options, "tests/fixtures/mptcp-tcprst.pcap");
golden!(pcapng_custom_blocks, "tests/fixtures/test202.pcapng");
golden!(null_loopback_ipv6, "tests/fixtures/null_loopback.pcap");
golden!(ip_fragments, "tests/fixtures/frag_http_req.pcap");
golden!(
    ipv6_fragments,
    "tests/fixtures/ip6_fragments.pcap",
    &["--no-summary"]
);
golden!(vlan_ldp, "tests/fixtures/ldp-common-session.pcap");
golden!(
    invalid_timestamps_abs,
    "tests/fixtures/timestamp_invalid_nano.pcap",
    &["-t", "abs"]
);
golden!(
    ecn_accecn_flags,
    "tests/fixtures/TcpPacketNoOptionsAccEcn.pcap"
);
golden!(
    mixed_linktypes,
    "tests/fixtures/many_interfaces-1.pcapng",
    &["--no-summary"]
);
