//! Writing an output file so that no reader ever sees half of it and a failed or killed command
//! leaves nothing behind.
//!
//! What the output path is decides how it is written:
//! - `-`: standard output, written through.
//! - a device node, FIFO or socket (`/dev/null`, `/dev/stdout`, a named pipe): written through,
//!   never replaced (renaming over `/dev/null` as root would replace the device node).
//! - a symbolic link: followed, as `cp` does; the file it points to is replaced atomically and the
//!   link stays. A link to nothing is refused (as GNU `cp` refuses to write through a dangling
//!   link).
//! - a directory: refused.
//! - a regular file, or nothing yet: the bytes go to an unnamed temporary file in the target's
//!   directory (Linux `O_TMPFILE`), are synced, and the file is given its name only when complete
//!   (`linkat`). An interrupted write (SIGINT, SIGKILL, a full disk) leaves no file at all,
//!   because the temporary file never had a name. Replacing an existing file links the finished
//!   file under a temporary name and renames it over the target: the only window in which a kill
//!   could leave that name behind is between those two system calls. On a file system without
//!   `O_TMPFILE` a named temporary file is used instead, removed on every error.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustix::fs::{AtFlags, CWD, Mode, OFlags, linkat, openat, renameat};

/// Where a write goes, decided by what the path is.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `-`.
    Stdout,
    /// A device node, FIFO or socket: opened and written.
    WriteThrough(PathBuf),
    /// A regular file (existing or not) at this path, replaced atomically.
    Replace(PathBuf),
}

fn target(path: &Path) -> Result<Target> {
    if path.as_os_str() == "-" {
        return Ok(Target::Stdout);
    }
    let link = std::fs::symlink_metadata(path);
    let path = match &link {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).with_context(|| {
            format!(
                "{}: a symbolic link to nothing; not writing through it",
                path.display()
            )
        })?,
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => bail!("{}: is a directory", path.display()),
        Ok(m) if m.is_file() => Ok(Target::Replace(path)),
        Ok(m) => {
            let t = m.file_type();
            if t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket() {
                Ok(Target::WriteThrough(path))
            } else {
                bail!("{}: not a file mote can write", path.display())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::Replace(path)),
        Err(e) => Err(e).with_context(|| format!("{}: cannot read its metadata", path.display())),
    }
}

/// Writes `bytes` to `path` as the module doc says: complete or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    match target(path)? {
        Target::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .context("writing to standard output")
        }
        Target::WriteThrough(p) => OpenOptions::new()
            .write(true)
            .open(&p)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("writing {}", p.display())),
        Target::Replace(p) => replace(&p, bytes),
    }
}

/// The directory a file `path` lives in, and its name there.
fn dir_and_name(path: &Path) -> Result<(PathBuf, &std::ffi::OsStr)> {
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let (dir, name) = dir_and_name(path)?;
    // An existing file keeps its permission bits; a new one gets 0o666 less the umask.
    let mode = std::fs::metadata(path).map_or(0o666, |m| m.permissions().mode() & 0o7777);
    let tmp = match openat(
        CWD,
        &dir,
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    ) {
        Ok(fd) => File::from(fd),
        // No O_TMPFILE on this file system (or an old kernel): a named temporary file.
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::ISDIR => {
            return replace_named(path, &dir, bytes, mode);
        }
        Err(e) => {
            return Err(std::io::Error::from(e))
                .with_context(|| format!("creating a temporary file in {}", dir.display()));
        }
    };
    let mut f = tmp;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    // The unnamed file is named through its /proc link (needs no privilege, unlike AT_EMPTY_PATH).
    let proc_link = {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
    };
    match linkat(CWD, &proc_link, CWD, path, AtFlags::SYMLINK_FOLLOW) {
        Ok(()) => return sync_dir(&dir),
        Err(e) if e == rustix::io::Errno::EXIST => {}
        Err(e) => {
            return Err(std::io::Error::from(e))
                .with_context(|| format!("creating {}", path.display()));
        }
    }
    // The target exists: name the finished file beside it, then rename it over the target.
    let mut side = dir.join(temp_name(name));
    let mut attempt = 0;
    loop {
        match linkat(CWD, &proc_link, CWD, &side, AtFlags::SYMLINK_FOLLOW) {
            Ok(()) => break,
            Err(e) if e == rustix::io::Errno::EXIST && attempt < 8 => {
                attempt += 1;
                side = dir.join(format!("{}.{attempt}", temp_name(name).to_string_lossy()));
            }
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("creating {}", side.display()));
            }
        }
    }
    if let Err(e) = renameat(CWD, &side, CWD, path) {
        let _ = std::fs::remove_file(&side);
        return Err(std::io::Error::from(e))
            .with_context(|| format!("replacing {}", path.display()));
    }
    sync_dir(&dir)
}

/// `.NAME.mote-tmp-PID`: hidden, and named after the process that made it.
fn temp_name(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(".");
    s.push(name);
    s.push(format!(".mote-tmp-{}", std::process::id()));
    s
}

/// The fallback without `O_TMPFILE`: a named temporary file, removed on every error.
fn replace_named(path: &Path, dir: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_name(path.file_name().unwrap_or_default()))
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    sync_dir(dir)
}

/// Makes the new name durable (the rename or link is in the directory's metadata).
fn sync_dir(dir: &Path) -> Result<()> {
    // A directory one cannot open for reading still got the name; durability is best effort.
    if let Ok(d) = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::DIRECTORY.bits() as i32)
        .open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn creates_and_replaces_regular_files_leaving_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("m.mote");
        write_atomic(&p, b"first").expect("creates");
        assert_eq!(std::fs::read(&p).expect("read"), b"first");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_atomic(&p, b"second, longer").expect("replaces");
        assert_eq!(std::fs::read(&p).expect("read"), b"second, longer");
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "an existing file keeps its mode");
        assert_eq!(listing(dir.path()), ["m.mote"]);
    }

    #[test]
    fn device_nodes_are_written_through_never_replaced() {
        let before = std::fs::symlink_metadata("/dev/null").expect("/dev/null");
        write_atomic(Path::new("/dev/null"), b"discarded").expect("writes through");
        let after = std::fs::symlink_metadata("/dev/null").expect("/dev/null");
        assert!(after.file_type().is_char_device());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            before.ino(),
            after.ino(),
            "the device node is the same inode"
        );
    }

    #[test]
    fn fifos_are_written_through() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("pipe");
        rustix::fs::mknodat(
            CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).expect("reads the fifo"))
        };
        write_atomic(&fifo, b"through the pipe").expect("writes through");
        assert_eq!(reader.join().expect("reader"), b"through the pipe");
        assert!(
            std::fs::metadata(&fifo)
                .expect("stat")
                .file_type()
                .is_fifo()
        );
    }

    #[test]
    fn symlinks_are_followed_and_dangling_ones_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let real = dir.path().join("real.mote");
        let link = dir.path().join("link.mote");
        std::fs::write(&real, b"old").expect("write");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        write_atomic(&link, b"new").expect("writes through the link");
        assert_eq!(std::fs::read(&real).expect("read"), b"new");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("lstat")
                .file_type()
                .is_symlink()
        );
        let dangling = dir.path().join("dangling.mote");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
        let e = format!("{:#}", write_atomic(&dangling, b"x").expect_err("dangling"));
        assert!(e.contains("symbolic link to nothing"), "{e}");
        assert_eq!(
            listing(dir.path()),
            ["dangling.mote", "link.mote", "real.mote"]
        );
    }

    #[test]
    fn directories_and_missing_directories_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = format!(
            "{:#}",
            write_atomic(dir.path(), b"x").expect_err("a directory")
        );
        assert!(e.contains("is a directory"), "{e}");
        let e = write_atomic(&dir.path().join("no/such/dir/m.mote"), b"x").expect_err("no dir");
        assert!(format!("{e:#}").contains("no/such/dir"), "{e:#}");
    }
}
