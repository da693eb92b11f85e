//! The benchmark's inputs, made once and cached: synthetic captures (written by
//! `sockscope::synth`) and the libpcap floor program. Tools are looked up on PATH.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sockscope::synth::{self, Config, Format};

/// A capture file the benchmark replays.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Short name for the table ("1M pcap", ...).
    pub label: String,
    pub path: PathBuf,
    pub packets: u64,
    pub bytes: u64,
}

/// The capture `cfg` describes, from `cache` or written there now. The name carries the
/// generator's version and the settings, so a changed generator never reuses an old file.
pub fn synth_file(cache: &Path, label: &str, cfg: &Config) -> Result<Capture, String> {
    let ext = match cfg.format {
        Format::PcapNg => "pcapng",
        Format::Pcap | Format::PcapNs => "pcap",
    };
    let packets = match cfg.packets {
        u64::MAX => "all".to_owned(),
        n => n.to_string(),
    };
    let key = format!(
        "synth-v{}-{:?}-{:?}-{packets}p-{}c-{}s-{}h-seed{}",
        synth::VERSION,
        cfg.mode,
        cfg.format,
        cfg.conversations.unwrap_or(0),
        cfg.streams,
        cfg.clients,
        cfg.seed
    )
    .to_lowercase();
    let path = cache.join(format!("{key}.{ext}"));
    let count = cache.join(format!("{key}.count"));
    if let (Ok(n), Ok(meta)) = (fs::read_to_string(&count), fs::metadata(&path)) {
        if let Ok(packets) = n.trim().parse() {
            return Ok(Capture {
                label: label.to_owned(),
                path,
                packets,
                bytes: meta.len(),
            });
        }
    }
    fs::create_dir_all(cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    eprintln!("bench: writing {} ({label}) ...", path.display());
    let start = Instant::now();
    let tmp = path.with_extension("tmp");
    let file = fs::File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let sum = synth::write(cfg, BufWriter::with_capacity(1 << 20, file))
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    fs::rename(&tmp, &path).map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
    fs::write(&count, format!("{}\n", sum.packets))
        .map_err(|e| format!("writing {}: {e}", count.display()))?;
    eprintln!(
        "bench: {} packets, {} bytes ({:.0} B/packet), {} TCP conversations, {} UDP datagrams, \
         {} retransmissions, {} dup ACKs, {} out-of-order, in {:.1} s",
        sum.packets,
        sum.bytes,
        sum.bytes as f64 / sum.packets.max(1) as f64,
        sum.tcp_conversations,
        sum.udp_datagrams,
        sum.stats.retransmissions,
        sum.stats.dup_acks,
        sum.stats.out_of_order,
        start.elapsed().as_secs_f64()
    );
    Ok(Capture {
        label: label.to_owned(),
        path,
        packets: sum.packets,
        bytes: sum.bytes,
    })
}

/// A C program of bench/ (`floor.c`, `spawn.c`), compiled into `cache` with gcc when missing
/// or older than its source, linked with `libs`. Err with the reason when gcc (or a library's
/// headers) is missing.
pub fn compile(cache: &Path, source: &Path, libs: &[&str]) -> Result<PathBuf, String> {
    let name = source
        .file_stem()
        .ok_or_else(|| format!("{}: no file name", source.display()))?;
    let exe = cache.join(name);
    let newer = |a: &Path, b: &Path| -> bool {
        let m = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
        matches!((m(a), m(b)), (Some(x), Some(y)) if x >= y)
    };
    if exe.is_file() && newer(&exe, source) {
        return Ok(exe);
    }
    fs::create_dir_all(cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(source)
        .args(libs)
        .output()
        .map_err(|e| format!("gcc: {e} (install gcc)"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc {} failed: {}",
            source.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(exe)
}

/// `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Reads `path` once so that every command starts with it in the page cache.
pub fn warm(path: &Path) {
    if let Ok(mut f) = fs::File::open(path) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
}
