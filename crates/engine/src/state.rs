//! The engine's own small persisted state: the next derivation index to hand out on each
//! keychain (`<datadir>/engine-state.json`).
//!
//! Why a file and not the ledger: the ledger records coins and the audit log but has no
//! counter for addresses handed out that were never paid. The counter must survive restarts,
//! or a restart would hand out an already issued (maybe already paid-to) address again.
//!
//! Module invariant: an index is persisted (written to a temporary file, fsynced, renamed over
//! the old file, directory fsynced) BEFORE it is handed out, so after any crash the stored
//! counter is above every index ever returned; a crash can only skip indices, never repeat one.
//! At start the counter is also raised above the highest index seen used on the chain.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use mona_ledger::Keychain;
use serde::{Deserialize, Serialize};

/// File name inside the datadir.
pub const STATE_FILE: &str = "engine-state.json";

/// Next index to hand out per keychain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indices {
    /// Hot receive (deposit) addresses.
    pub hot_receive: u32,
    /// Hot change.
    pub hot_change: u32,
    /// Cold receive (sweep destinations).
    pub cold_receive: u32,
    /// Cold change (top-up change).
    pub cold_change: u32,
}

impl Indices {
    fn slot(&mut self, kc: Keychain) -> &mut u32 {
        match kc {
            Keychain::HotExternal => &mut self.hot_receive,
            Keychain::HotInternal => &mut self.hot_change,
            Keychain::ColdExternal => &mut self.cold_receive,
            _ => &mut self.cold_change,
        }
    }

    /// The next index of `kc`.
    pub fn get(&self, kc: Keychain) -> u32 {
        let mut c = *self;
        *c.slot(kc)
    }
}

/// The state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// I/O failed.
    #[error("engine state file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("engine state file {path} is malformed: {detail}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
}

/// The counters and where they live.
#[derive(Debug)]
pub struct StateFile {
    path: Option<PathBuf>,
    indices: Indices,
}

impl StateFile {
    /// Loads `<datadir>/engine-state.json` (all zeros if absent), or keeps the state in memory
    /// when `datadir` is `None`.
    pub fn open(datadir: Option<&Path>) -> Result<StateFile, StateError> {
        let Some(dir) = datadir else {
            return Ok(StateFile {
                path: None,
                indices: Indices::default(),
            });
        };
        let path = dir.join(STATE_FILE);
        let indices = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StateError::Malformed {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Indices::default(),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(StateFile {
            path: Some(path),
            indices,
        })
    }

    /// The counters.
    pub fn indices(&self) -> Indices {
        self.indices
    }

    /// Raises the counter of `kc` to at least `next` (persisted if it changed).
    pub fn raise(&mut self, kc: Keychain, next: u32) -> Result<(), StateError> {
        if self.indices.get(kc) >= next {
            return Ok(());
        }
        let mut new = self.indices;
        *new.slot(kc) = next;
        self.store(new)
    }

    /// Hands out the next index of `kc`, persisted first.
    pub fn take(&mut self, kc: Keychain) -> Result<u32, StateError> {
        let i = self.indices.get(kc);
        let mut new = self.indices;
        *new.slot(kc) = i.saturating_add(1);
        self.store(new)?;
        Ok(i)
    }

    fn store(&mut self, new: Indices) -> Result<(), StateError> {
        if let Some(path) = &self.path {
            let io = |source| StateError::Io {
                path: path.display().to_string(),
                source,
            };
            let tmp = path.with_extension("json.tmp");
            let bytes = serde_json::to_vec_pretty(&new).map_err(|e| StateError::Malformed {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
            drop(f);
            std::fs::rename(&tmp, path).map_err(io)?;
            if let Some(dir) = path.parent() {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        self.indices = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_survive_reopen_and_only_grow() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateFile::open(Some(dir.path())).unwrap();
        assert_eq!(s.take(Keychain::HotExternal).unwrap(), 0);
        assert_eq!(s.take(Keychain::HotExternal).unwrap(), 1);
        s.raise(Keychain::ColdExternal, 7).unwrap();
        s.raise(Keychain::ColdExternal, 3).unwrap();
        let mut s2 = StateFile::open(Some(dir.path())).unwrap();
        assert_eq!(s2.take(Keychain::HotExternal).unwrap(), 2);
        assert_eq!(s2.indices().cold_receive, 7);
        std::fs::write(dir.path().join(STATE_FILE), b"{\"hot_receive\": -1}").unwrap();
        assert!(matches!(
            StateFile::open(Some(dir.path())),
            Err(StateError::Malformed { .. })
        ));
    }
}
