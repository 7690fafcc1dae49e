//! Reading and writing seed files on disk.
//!
//! Invariant: a seed file is created with mode 0600 from its first byte, appears at its final
//! path only complete and fsync'd (written to a temporary file in the same directory, then
//! hard-linked into place, which fails rather than replace an existing file), and is never
//! opened for writing after that: reading and unlocking use a read-only handle.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{OpenError, WriteError};
use crate::format::{SeedFile, MAX_FILE_LEN};

/// Reads and integrity-checks the seed file at `path` (no passphrase needed, no KDF run).
pub fn read_file(path: &Path) -> Result<SeedFile, OpenError> {
    let io_err = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    // Read at most one byte past the largest valid file, so a huge file costs nothing.
    file.take(MAX_FILE_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    SeedFile::parse(bytes)
}

/// Writes `bytes` to a new file at `path`, mode 0600, atomically and without ever replacing an
/// existing file. The parent directory must exist.
pub fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => (dir, name),
        _ => {
            return Err(WriteError::InvalidPath {
                path: path.to_path_buf(),
            })
        }
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if fs::symlink_metadata(path).is_ok() {
        return Err(WriteError::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    let tmp = temp_path(dir, name)?;
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    let result = write_and_link(&tmp, path, bytes);
    // The temporary name is removed whatever happened; the final name (if linked) remains.
    let cleanup = fs::remove_file(&tmp);
    result?;
    cleanup.map_err(io_err(&tmp))?;
    sync_dir(dir).map_err(io_err(dir))
}

fn write_and_link(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let tmp_err = |source| WriteError::Io {
        path: tmp.to_path_buf(),
        source,
    };
    let mut file = options.open(tmp).map_err(tmp_err)?;
    file.write_all(bytes).map_err(tmp_err)?;
    file.sync_all().map_err(tmp_err)?;
    drop(file);
    fs::hard_link(tmp, path).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            WriteError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            WriteError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

fn temp_path(dir: &Path, name: &std::ffi::OsStr) -> Result<PathBuf, WriteError> {
    let mut random = [0u8; 8];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| WriteError::Io {
            path: dir.to_path_buf(),
            source: io::Error::other("system random number generator failed"),
        })?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{suffix}"));
    Ok(dir.join(tmp_name))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
