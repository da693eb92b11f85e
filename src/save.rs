//! `--save FILE` of `run` and `trace`: checked before anything runs, written when the run ends.
//!
//! - The extension chooses the format: `.pcapng` holds the packets, the calls as packet
//!   comments (Wireshark shows them) and the whole run (`sockscope replay` shows it again);
//!   `.pcap` holds the packets only, as Wireshark's "Save As pcap" does, with a note on stderr
//!   saying what was left out. Any other name is refused with the two choices.
//! - `-` writes pcapng to stdout, as `tcpdump -w -` does: the report is then not printed
//!   (stdout carries the capture; a verdict line goes to stderr). Refused when stdout is a
//!   terminal, or with `--format jsonl`, which wants stdout too.
//! - Before the capture opens: the folder must exist, and the file must not, unless `--force`.
//! - Once privileges are given up, and before the scenario or program starts, the file is
//!   created, empty, under a temporary name in its folder, by the user it will belong to: the
//!   kernel itself answers whether that user may write there (ACLs, read-only mounts and
//!   root-squashed NFS included), and the file is that user's. When the run ends it is written
//!   and renamed to its name; a run that fails leaves no file, and a file that exists is never
//!   half overwritten (without `--force`, not at all, even if it appeared during the run).

use std::ffi::OsStr;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::cli::FormatArg;
use crate::live::{pcapng, LiveError, RunData};

/// The format a name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Pcapng,
    Pcap,
    /// A picture of the run (`--svg`, `--html`): written by [`Target::finish_bytes`].
    Picture,
}

/// Where a run goes, checked before the capture opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The option that names the file (`--save`, `--svg`, `--html`), for messages.
    flag: &'static str,
    /// None: stdout.
    path: Option<PathBuf>,
    container: Container,
    force: bool,
}

/// The temporary files of the run in progress (the capture, the pictures), removed by
/// [`discard_pending`] when sockscope exits at once (a second Ctrl-C).
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the temporary files of a run that will not end normally.
pub fn discard_pending() {
    if let Ok(mut p) = PENDING.lock() {
        for path in p.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn forget_pending(path: &Path) {
    if let Ok(mut p) = PENDING.lock() {
        p.retain(|q| q != path);
    }
}

fn refuse(flag: &'static str, path: &Path, why: impl Into<String>) -> LiveError {
    LiveError::Save {
        flag,
        path: path.to_owned(),
        why: why.into(),
    }
}

impl Plan {
    /// Checks what can be checked as the process starts: the name, stdout, the folder, an
    /// existing file.
    pub fn check(path: &Path, force: bool, format: FormatArg) -> Result<Plan, LiveError> {
        Plan::check_with(path, force, format, io::stdout().is_terminal())
    }

    fn check_with(
        path: &Path,
        force: bool,
        format: FormatArg,
        stdout_is_terminal: bool,
    ) -> Result<Plan, LiveError> {
        if path.as_os_str() == "-" {
            if format == FormatArg::Jsonl {
                return Err(refuse(
                    "--save",
                    path,
                    "writes the capture to stdout, where --format jsonl writes too: save to a \
                     file, or leave out --format jsonl",
                ));
            }
            if stdout_is_terminal {
                return Err(refuse(
                    "--save",
                    path,
                    "writes binary pcapng to stdout, which is a terminal: pipe it (| wireshark \
                     -k -i -) or redirect it (> run.pcapng)",
                ));
            }
            return Ok(Plan {
                flag: "--save",
                path: None,
                container: Container::Pcapng,
                force,
            });
        }
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(refuse(
                "--save",
                path,
                "is a folder: name a file in it, e.g. run.pcapng",
            ));
        }
        let ext = path
            .extension()
            .and_then(OsStr::to_str)
            .map(str::to_ascii_lowercase);
        let container =
            match ext.as_deref() {
                Some("pcapng") => Container::Pcapng,
                Some("pcap") => Container::Pcap,
                _ => return Err(refuse(
                    "--save",
                    path,
                    "the extension chooses the format: name it .pcapng (the packets, the calls \
                     as comments Wireshark shows, and the run for sockscope replay) or .pcap \
                     (the packets only), or give - for pcapng on stdout",
                )),
            };
        Plan::place("--save", path, container, force)
    }

    /// Checks the file of a picture (`flag` is `--svg` or `--html`, `ext` the extension it
    /// asks for): a file in a folder that exists, not one that exists unless `force`.
    pub fn picture(
        flag: &'static str,
        ext: &str,
        path: &Path,
        force: bool,
    ) -> Result<Plan, LiveError> {
        if path.as_os_str() == "-" {
            return Err(refuse(
                flag,
                path,
                format!("write the picture to a file, e.g. {flag} run.{ext}"),
            ));
        }
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(refuse(
                flag,
                path,
                format!("is a folder: name a file in it, e.g. run.{ext}"),
            ));
        }
        let named = path
            .extension()
            .and_then(OsStr::to_str)
            .map(str::to_ascii_lowercase);
        let fits = match named.as_deref() {
            Some("htm") => ext == "html",
            Some(e) => e == ext,
            None => false,
        };
        if !fits {
            let hint = if ext == "svg" {
                " (rsvg-convert -o run.png run.svg makes a PNG of it)"
            } else {
                ""
            };
            return Err(refuse(
                flag,
                path,
                format!("{flag} writes {ext}: name the file .{ext}, e.g. run.{ext}{hint}"),
            ));
        }
        Plan::place(flag, path, Container::Picture, force)
    }

    /// The checks every file shares: its folder exists, and it does not unless `force`.
    fn place(
        flag: &'static str,
        path: &Path,
        container: Container,
        force: bool,
    ) -> Result<Plan, LiveError> {
        let dir = folder(path);
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(refuse(
                    flag,
                    path,
                    format!("{} is not a folder", dir.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(refuse(
                    flag,
                    path,
                    format!(
                        "the folder {} does not exist: create it first (mkdir -p {})",
                        dir.display(),
                        dir.display()
                    ),
                ))
            }
            Err(e) => {
                return Err(refuse(
                    flag,
                    path,
                    format!("cannot use the folder {}: {e}", dir.display()),
                ))
            }
        }
        if !force && std::fs::symlink_metadata(path).is_ok() {
            return Err(refuse(
                flag,
                path,
                "the file exists: add --force to overwrite it",
            ));
        }
        Ok(Plan {
            flag,
            path: Some(path.to_owned()),
            container,
            force,
        })
    }

    /// The format that will be written.
    pub fn container(&self) -> Container {
        self.container
    }

    /// Whether the capture goes to stdout (and the report must not).
    pub fn to_stdout(&self) -> bool {
        self.path.is_none()
    }

    /// Creates the file, empty, under a temporary name in its folder. Call it as the user the
    /// file will belong to (after privileges are given up) and before the run starts.
    pub fn open(self) -> Result<Target, LiveError> {
        let Some(path) = &self.path else {
            return Ok(Target {
                plan: self,
                temp: None,
            });
        };
        let dir = folder(path);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temp = {
            use std::os::unix::fs::PermissionsExt;
            tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".part")
                // As File::create: 0666 less the umask.
                .permissions(std::fs::Permissions::from_mode(0o666))
                .tempfile_in(&dir)
        }
        .map_err(|e| {
            // tempfile's error names the random name; the kind says it all.
            let cause = match e.kind() {
                io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                io::ErrorKind::ReadOnlyFilesystem => "read-only file system".to_owned(),
                _ => e.to_string(),
            };
            let hint = if matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) {
                " (the file would belong to the user who runs sockscope; under sudo, SUDO_UID): \
                 choose a folder of yours"
            } else {
                ""
            };
            refuse(
                self.flag,
                path,
                format!(
                    "cannot create a file in the folder {}: {cause}{hint}",
                    dir.display()
                ),
            )
        })?;
        if let Ok(mut p) = PENDING.lock() {
            p.push(temp.path().to_owned());
        }
        Ok(Target {
            plan: self,
            temp: Some(temp),
        })
    }
}

/// The folder a file goes in (`.` for a bare name).
fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A save in progress: its temporary file, created before the run.
#[derive(Debug)]
pub struct Target {
    plan: Plan,
    temp: Option<tempfile::NamedTempFile>,
}

impl Target {
    pub fn to_stdout(&self) -> bool {
        self.plan.to_stdout()
    }

    /// Writes `run` (to `out` when saving to stdout), gives the file its name, and says so on
    /// stderr.
    pub fn finish(self, run: &RunData, out: &mut dyn Write) -> Result<(), LiveError> {
        let events = run.events.len();
        let packets = run.packets.len();
        let Some(temp) = self.temp else {
            write_all(out, run, self.plan.container).map_err(LiveError::Write)?;
            eprintln!("sockscope: wrote {packets} packets and {events} events to stdout as pcapng");
            return Ok(());
        };
        let path = self.plan.path.clone().unwrap_or_default();
        let container = self.plan.container;
        Target::persist(self.plan, temp, |w| write_all(w, run, container))?;
        match container {
            Container::Picture => {}
            Container::Pcapng => eprintln!(
                "sockscope: saved {packets} packets and {events} events to {} (sockscope replay \
                 {} shows the run again)",
                path.display(),
                path.display()
            ),
            Container::Pcap => eprintln!(
                "sockscope: saved {packets} packets to {}: a .pcap holds packets only; the \
                 {events} events (calls as comments, and the run for sockscope replay) need \
                 .pcapng",
                path.display()
            ),
        }
        Ok(())
    }
}

impl Target {
    /// Writes a picture (`bytes`) to its file and gives the file its name.
    pub fn finish_bytes(self, bytes: &[u8]) -> Result<PathBuf, LiveError> {
        let path = self.plan.path.clone().unwrap_or_default();
        let Some(temp) = self.temp else {
            return Err(refuse(self.plan.flag, &path, "no file to write"));
        };
        Target::persist(self.plan, temp, |w| w.write_all(bytes))?;
        Ok(path)
    }

    /// Writes the temporary file with `write`, then renames it to its name (never over a
    /// file that appeared meanwhile, unless --force).
    fn persist(
        plan: Plan,
        mut temp: tempfile::NamedTempFile,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), LiveError> {
        let path = plan.path.unwrap_or_default();
        let tpath = temp.path().to_owned();
        let mut w = BufWriter::new(temp.as_file_mut());
        write(&mut w)
            .and_then(|()| w.flush())
            .map_err(|e| LiveError::file(&path, e))?;
        drop(w);
        let persisted = if plan.force {
            temp.persist(&path).map(drop)
        } else {
            temp.persist_noclobber(&path).map(drop)
        };
        forget_pending(&tpath);
        if let Err(e) = persisted {
            // Dropping the temporary file removes it.
            let why = if e.error.kind() == io::ErrorKind::AlreadyExists {
                "the file appeared while the run went on: add --force to overwrite it".to_owned()
            } else {
                format!("cannot give the file its name: {}", e.error)
            };
            return Err(refuse(plan.flag, &path, why));
        }
        Ok(())
    }
}

fn write_all(out: &mut dyn Write, run: &RunData, container: Container) -> io::Result<()> {
    let mut out = out;
    match container {
        Container::Pcapng => pcapng::write(&mut out, run),
        Container::Pcap => pcapng::write_pcap(&mut out, run),
        Container::Picture => Ok(()),
    }?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &Path, force: bool) -> Result<Plan, String> {
        Plan::check_with(path, force, FormatArg::Text, false).map_err(|e| e.to_string())
    }

    #[test]
    fn the_extension_chooses_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        assert_eq!(
            check(&p("a.pcapng"), false).unwrap().container(),
            Container::Pcapng
        );
        assert_eq!(
            check(&p("a.PCAP"), false).unwrap().container(),
            Container::Pcap
        );
        for bad in ["a.txt", "a", "a.pcapng.gz"] {
            let e = check(&p(bad), false).unwrap_err();
            assert!(e.contains("name it .pcapng"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_folder_must_exist_and_the_file_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/h.pcapng");
        let e = check(&missing, false).unwrap_err();
        assert!(e.contains("does not exist: create it first"), "{e}");
        let file = dir.path().join("h.pcapng");
        std::fs::write(&file, b"x").unwrap();
        let e = check(&file, false).unwrap_err();
        assert!(e.contains("exists: add --force"), "{e}");
        assert!(check(&file, true).is_ok());
        let e = check(&file.join("x.pcapng"), false).unwrap_err();
        assert!(e.contains("is not a folder"), "{e}");
        let sub = dir.path().join("d.pcapng");
        std::fs::create_dir(&sub).unwrap();
        assert!(check(&sub, true).unwrap_err().contains("is a folder"));
        assert!(check(dir.path(), false)
            .unwrap_err()
            .contains("is a folder"));
    }

    #[test]
    fn a_picture_is_named_for_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let pic =
            |flag, ext, n: &str| Plan::picture(flag, ext, &p(n), false).map_err(|e| e.to_string());
        assert!(pic("--svg", "svg", "a.SVG").is_ok());
        assert!(pic("--html", "html", "a.htm").is_ok());
        let e = pic("--svg", "svg", "a.png").unwrap_err();
        assert!(
            e.starts_with("--svg ") && e.contains("name the file .svg"),
            "{e}"
        );
        let e = Plan::picture("--html", "html", Path::new("-"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("write the picture to a file"), "{e}");
        std::fs::write(p("b.html"), b"x").unwrap();
        let e = pic("--html", "html", "b.html").unwrap_err();
        assert!(e.starts_with("--html ") && e.contains("add --force"), "{e}");
        assert!(Plan::picture("--html", "html", &p("b.html"), true).is_ok());
    }

    #[test]
    fn stdout_is_refused_for_a_terminal_and_with_jsonl() {
        let dash = Path::new("-");
        assert!(Plan::check_with(dash, false, FormatArg::Text, false)
            .unwrap()
            .to_stdout());
        let e = Plan::check_with(dash, false, FormatArg::Text, true).unwrap_err();
        assert!(e.to_string().contains("which is a terminal"), "{e}");
        let e = Plan::check_with(dash, false, FormatArg::Jsonl, false).unwrap_err();
        assert!(e.to_string().contains("--format jsonl"), "{e}");
    }

    #[test]
    fn the_file_appears_only_when_the_run_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.pcap");
        let target = check(&path, false).unwrap().open().unwrap();
        // Only the temporary file exists during the run.
        let names = |d: &Path| -> Vec<String> {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        let during = names(dir.path());
        assert_eq!(during.len(), 1);
        assert!(during[0].starts_with(".h.pcap.") && during[0].ends_with(".part"));
        // Another file took the name meanwhile: not overwritten without --force.
        std::fs::write(&path, b"theirs").unwrap();
        let run = RunData {
            linktype: 1,
            ..RunData::default()
        };
        let e = target.finish(&run, &mut io::sink()).unwrap_err();
        assert!(
            e.to_string().contains("appeared while the run went on"),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        assert_eq!(names(dir.path()), vec!["h.pcap".to_owned()]);
        // With --force it is replaced, by a pcap (its magic: ns, little-endian).
        let target = check(&path, true).unwrap().open().unwrap();
        target.finish(&run, &mut io::sink()).unwrap();
        assert_eq!(
            &std::fs::read(&path).unwrap()[..4],
            &[0x4d, 0x3c, 0xb2, 0xa1]
        );
        // A failed run drops its target: nothing is left.
        let other = dir.path().join("x.pcapng");
        drop(check(&other, false).unwrap().open().unwrap());
        assert_eq!(names(dir.path()), vec!["h.pcap".to_owned()]);
    }
}
