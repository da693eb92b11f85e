use super::*;

type Item<'a> = Result<TcpOption<'a>, OptionError>;

fn walk(b: &[u8]) -> Vec<Item<'_>> {
    options(b).collect()
}

/// The blocks of a SACK item (None for anything else).
fn blocks(item: &Item<'_>) -> Option<Vec<(u32, u32)>> {
    match item {
        Ok(TcpOption::Sack(b)) => Some(b.iter().collect()),
        _ => None,
    }
}

#[test]
fn linux_syn_options() {
    // mss 65495, sack_perm, TS val 1 ecr 0, nop, wscale 7
    let b = [
        2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    assert_eq!(
        walk(&b),
        vec![
            Ok(TcpOption::Mss(65495)),
            Ok(TcpOption::SackPermitted),
            Ok(TcpOption::Timestamps { val: 1, ecr: 0 }),
            Ok(TcpOption::Nop),
            Ok(TcpOption::WindowScale(7)),
        ]
    );
    assert_eq!(window_scale(&b), Some(7));
}

#[test]
fn sack_blocks() {
    let b = [5, 10, 0, 0, 0, 10, 0, 0, 0, 20];
    let v = walk(&b);
    assert_eq!(v.len(), 1);
    assert_eq!(blocks(&v[0]), Some(vec![(10, 20)]));
}

#[test]
fn sack_with_a_partial_block_keeps_the_whole_ones() {
    // nop, nop, SACK of length 14: one whole block and 4 stray bytes; then wscale 7.
    let b = [1, 1, 5, 14, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 3, 3, 7];
    let v = walk(&b);
    assert_eq!(v.len(), 5);
    assert_eq!(v[..2], [Ok(TcpOption::Nop), Ok(TcpOption::Nop)]);
    assert_eq!(blocks(&v[2]), Some(vec![(10, 20)]));
    assert_eq!(
        v[3..],
        [
            Err(OptionError::PartialSackBlock { len: 4 }),
            Ok(TcpOption::WindowScale(7))
        ]
    );
    // Fewer bytes than one block: no block, then the problem.
    let v = walk(&[5, 6, 0, 0, 0, 1]);
    assert_eq!(v.len(), 2);
    assert_eq!(blocks(&v[0]), Some(vec![]));
    assert_eq!(v[1], Err(OptionError::PartialSackBlock { len: 4 }));
    // An empty SACK is whole (no block), as in Wireshark.
    let v = walk(&[5, 2]);
    assert_eq!((v.len(), blocks(&v[0])), (1, Some(vec![])));
}

#[test]
fn four_sack_blocks_fill_the_option_space() {
    let mut b = vec![1, 1, 5, 34];
    for i in 0..4u32 {
        b.extend_from_slice(&(i * 10).to_be_bytes());
        b.extend_from_slice(&(i * 10 + 5).to_be_bytes());
    }
    assert_eq!(
        blocks(&walk(&b)[2]),
        Some(vec![(0, 5), (10, 15), (20, 25), (30, 35)])
    );
}

#[test]
fn truncated_option_ends_the_walk() {
    // The length runs past the end.
    assert_eq!(
        walk(&[1, 8, 10, 0, 0]),
        vec![
            Ok(TcpOption::Nop),
            Err(OptionError::Truncated { kind: 8, offset: 1 })
        ]
    );
    // The length byte is missing.
    assert_eq!(
        walk(&[1, 1, 3]),
        vec![
            Ok(TcpOption::Nop),
            Ok(TcpOption::Nop),
            Err(OptionError::Truncated { kind: 3, offset: 2 })
        ]
    );
    // Cut inside a known option whose length is right.
    assert_eq!(
        walk(&[2, 4, 5]),
        vec![Err(OptionError::Truncated { kind: 2, offset: 0 })]
    );
}

#[test]
fn length_below_two_ends_the_walk() {
    assert_eq!(
        walk(&[30, 0, 1, 1]),
        vec![Err(OptionError::BadLength {
            kind: 30,
            len: 0,
            offset: 0
        })]
    );
    assert_eq!(
        walk(&[99, 1, 2, 4, 5, 180]),
        vec![Err(OptionError::BadLength {
            kind: 99,
            len: 1,
            offset: 0
        })]
    );
}

#[test]
fn wrong_fixed_lengths_are_skipped() {
    // MSS of 3 bytes, WS of 4, SACK_PERM of 3, TS of 8, MPTCP of 2; then an MSS that is right.
    let b = [
        2, 3, 5, 3, 4, 7, 0, 4, 3, 0, 8, 8, 0, 0, 0, 1, 0, 0, 30, 2, 2, 4, 5, 180,
    ];
    assert_eq!(
        walk(&b),
        vec![
            Err(OptionError::Malformed { kind: 2, len: 3 }),
            Err(OptionError::Malformed { kind: 3, len: 4 }),
            Err(OptionError::Malformed { kind: 4, len: 3 }),
            Err(OptionError::Malformed { kind: 8, len: 8 }),
            Err(OptionError::Malformed { kind: 30, len: 2 }),
            Ok(TcpOption::Mss(1460)),
        ]
    );
}

#[test]
fn eol_then_zero_padding_is_fine() {
    assert_eq!(
        walk(&[1, 0, 0, 0]),
        vec![
            Ok(TcpOption::Nop),
            Ok(TcpOption::Eol),
            Ok(TcpOption::Eol),
            Ok(TcpOption::Eol)
        ]
    );
}

#[test]
fn eol_then_non_zero_padding_ends_the_walk() {
    let v = walk(&[0, 0, 2, 4, 5, 180]);
    assert_eq!(
        v,
        vec![
            Ok(TcpOption::Eol),
            Ok(TcpOption::Eol),
            Err(OptionError::NonZeroPadding { offset: 2 })
        ]
    );
    // A NOP after EOL is padding too, and not zero.
    assert_eq!(
        walk(&[0, 1]),
        vec![
            Ok(TcpOption::Eol),
            Err(OptionError::NonZeroPadding { offset: 1 })
        ]
    );
    assert_eq!(window_scale(&[0, 3, 3, 7]), None);
}

#[test]
fn mptcp_tfo_and_unknown_kinds() {
    let b = [
        30, 12, 0x01, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 34, 2, 200, 4, 1, 2, 30, 4, 0x80, 0,
    ];
    assert_eq!(
        walk(&b),
        vec![
            Ok(TcpOption::Mptcp {
                subtype: 0,
                len: 12
            }),
            Ok(TcpOption::FastOpen(&[])),
            Ok(TcpOption::Unknown {
                kind: 200,
                data: &[1, 2]
            }),
            Ok(TcpOption::Mptcp { subtype: 8, len: 4 }),
        ]
    );
    assert_eq!(mptcp_subtype_name(8), "MP_TCPRST");
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(
        OptionError::Malformed { kind: 2, len: 3 }.to_string(),
        "option 2 has a wrong length of 3 bytes"
    );
    assert_eq!(
        OptionError::PartialSackBlock { len: 4 }.to_string(),
        "SACK option ends inside a block (4 bytes after the whole blocks)"
    );
    assert_eq!(
        OptionError::Truncated { kind: 8, offset: 1 }.to_string(),
        "option 8 at byte 1 runs past the end of the options"
    );
}

#[test]
fn every_cut_of_a_list_ends_cleanly() {
    let b = [
        2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7, 5, 10, 0, 0, 0, 1, 0, 0, 0,
        2,
    ];
    for n in 0..=b.len() {
        let v = walk(&b[..n]);
        // At most one problem, and it is the last item: a cut ends the walk.
        let errs = v.iter().filter(|i| i.is_err()).count();
        assert!(errs <= 1, "{n}: {v:?}");
        if errs == 1 {
            assert!(
                matches!(v.last(), Some(Err(OptionError::Truncated { .. }))),
                "{n}: {v:?}"
            );
        }
    }
}

#[test]
fn sack_blocks_beyond_four_are_not_given() {
    // Only possible past the 40 bytes a TCP header allows: five blocks give four.
    let mut b = vec![5, 42];
    for i in 0..10u32 {
        b.extend_from_slice(&i.to_be_bytes());
    }
    let v = walk(&b);
    assert_eq!(blocks(&v[0]), Some(vec![(0, 1), (2, 3), (4, 5), (6, 7)]));
    assert_eq!(v.len(), 1);
}
