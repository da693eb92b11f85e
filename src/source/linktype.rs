//! Link types by the names tcpdump prints (`link-type EN10MB`): libpcap's
//! `pcap_datalink_val_to_name`, applied to the DLT a file's LINKTYPE stands for.

use std::borrow::Cow;

/// The names of the link types sockscope decodes and of the usual others, by LINKTYPE value
/// (where a LINKTYPE differs from its DLT, e.g. LINKTYPE_RAW 101 is DLT_RAW, the name is the
/// DLT's, as tcpdump shows it).
const NAMES: &[(u16, &str)] = &[
    (0, "NULL"),
    (1, "EN10MB"),
    (6, "IEEE802"),
    (8, "SLIP"),
    (9, "PPP"),
    (10, "FDDI"),
    (50, "PPP_SERIAL"),
    (51, "PPP_ETHER"),
    (101, "RAW"),
    (104, "C_HDLC"),
    (105, "IEEE802_11"),
    (108, "LOOP"),
    (113, "LINUX_SLL"),
    (119, "PRISM_HEADER"),
    (127, "IEEE802_11_RADIO"),
    (189, "USB_LINUX"),
    (192, "PPI"),
    (195, "IEEE802_15_4_WITHFCS"),
    (201, "BLUETOOTH_HCI_H4_WITH_PHDR"),
    (220, "USB_LINUX_MMAPPED"),
    (228, "IPV4"),
    (229, "IPV6"),
    (253, "NETLINK"),
    (276, "LINUX_SLL2"),
];

/// tcpdump's name of a link type, e.g. `EN10MB` for 1; for one libpcap has no name for,
/// `LINKTYPE 147`.
pub fn name(linktype: u16) -> Cow<'static, str> {
    if let Some((_, n)) = NAMES.iter().find(|(v, _)| *v == linktype) {
        return Cow::Borrowed(n);
    }
    if linktype == super::file::LINKTYPE_UNKNOWN {
        return Cow::Borrowed("none (an interface that was never described)");
    }
    match pcap::Linktype(i32::from(linktype)).get_name() {
        Ok(n) => Cow::Owned(n),
        Err(_) => Cow::Owned(format!("LINKTYPE {linktype}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_tcpdumps() {
        assert_eq!(name(1), "EN10MB");
        assert_eq!(name(113), "LINUX_SLL");
        assert_eq!(name(276), "LINUX_SLL2");
        assert_eq!(name(101), "RAW");
        assert_eq!(name(0), "NULL");
        // Not in the table: asked of libpcap.
        assert_eq!(name(197), "ERF");
        assert_eq!(name(249), "USBPCAP");
        assert_eq!(name(9999), "LINKTYPE 9999");
    }
}
