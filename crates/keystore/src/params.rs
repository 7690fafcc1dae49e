//! Argon2id cost parameters and their sanity bounds.
//!
//! Invariant: every [`KdfParams`] this crate uses, whether chosen for a new file or read from a
//! file header, has passed [`KdfParams::validate`], so a tampered header can make an unlock cost
//! at most [`KdfParams::MAX_WORK_KIB`] KiB-passes of memory work (seconds, not hours) and at
//! most [`KdfParams::MAX_M_COST_KIB`] KiB of memory.

use thiserror::Error;

/// Argon2id (version 0x13) cost parameters, as stored in the seed file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory cost in KiB (argon2 `m_cost`).
    pub m_cost_kib: u32,
    /// Number of passes over the memory (argon2 `t_cost`).
    pub t_cost: u32,
    /// Degree of parallelism (argon2 `p_cost`; the derivation itself runs on one thread).
    pub p_cost: u32,
}

/// A [`KdfParams`] value outside the accepted bounds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KdfParamsError {
    /// Memory cost below the minimum (or below 8 KiB per lane).
    #[error("kdf memory cost {m_cost_kib} KiB is below the minimum {min} KiB")]
    MemoryTooSmall {
        /// The value found.
        m_cost_kib: u32,
        /// The minimum for this `p_cost`.
        min: u32,
    },
    /// Memory cost above the maximum.
    #[error("kdf memory cost {m_cost_kib} KiB is above the maximum {max} KiB")]
    MemoryTooLarge {
        /// The value found.
        m_cost_kib: u32,
        /// The maximum.
        max: u32,
    },
    /// Pass count outside `1..=MAX_T_COST`.
    #[error("kdf pass count {t_cost} is outside 1..={max}")]
    TimeOutOfBounds {
        /// The value found.
        t_cost: u32,
        /// The maximum.
        max: u32,
    },
    /// Parallelism outside `1..=MAX_P_COST`.
    #[error("kdf parallelism {p_cost} is outside 1..={max}")]
    ParallelismOutOfBounds {
        /// The value found.
        p_cost: u32,
        /// The maximum.
        max: u32,
    },
    /// Memory cost times pass count above the work cap.
    #[error("kdf work {m_cost_kib} KiB x {t_cost} passes exceeds the cap of {max} KiB-passes")]
    WorkTooLarge {
        /// The memory cost found.
        m_cost_kib: u32,
        /// The pass count found.
        t_cost: u32,
        /// The cap.
        max: u64,
    },
}

impl KdfParams {
    /// Defaults for new files: 256 MiB, 4 passes, 1 lane. Measured at 0.82-0.92 s per unlock on
    /// the development machine (2-vCPU Xeon VM, optimized build); see the crate docs.
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost_kib: 256 * 1024,
        t_cost: 4,
        p_cost: 1,
    };

    /// Smallest memory cost accepted (argon2's own floor is 8 KiB per lane).
    pub const MIN_M_COST_KIB: u32 = 8;
    /// Largest memory cost accepted: 2 GiB.
    pub const MAX_M_COST_KIB: u32 = 2 * 1024 * 1024;
    /// Largest pass count accepted.
    pub const MAX_T_COST: u32 = 32;
    /// Largest parallelism accepted.
    pub const MAX_P_COST: u32 = 16;
    /// Largest `m_cost_kib * t_cost` accepted: 8 GiB of memory passes (about 10x the default).
    pub const MAX_WORK_KIB: u64 = 8 * 1024 * 1024;

    /// Checks the bounds above; called on every header read and before every seal.
    pub fn validate(&self) -> Result<(), KdfParamsError> {
        if self.p_cost == 0 || self.p_cost > Self::MAX_P_COST {
            return Err(KdfParamsError::ParallelismOutOfBounds {
                p_cost: self.p_cost,
                max: Self::MAX_P_COST,
            });
        }
        if self.t_cost == 0 || self.t_cost > Self::MAX_T_COST {
            return Err(KdfParamsError::TimeOutOfBounds {
                t_cost: self.t_cost,
                max: Self::MAX_T_COST,
            });
        }
        // p_cost <= 16 so this cannot overflow.
        let min = Self::MIN_M_COST_KIB.max(8 * self.p_cost);
        if self.m_cost_kib < min {
            return Err(KdfParamsError::MemoryTooSmall {
                m_cost_kib: self.m_cost_kib,
                min,
            });
        }
        if self.m_cost_kib > Self::MAX_M_COST_KIB {
            return Err(KdfParamsError::MemoryTooLarge {
                m_cost_kib: self.m_cost_kib,
                max: Self::MAX_M_COST_KIB,
            });
        }
        if u64::from(self.m_cost_kib) * u64::from(self.t_cost) > Self::MAX_WORK_KIB {
            return Err(KdfParamsError::WorkTooLarge {
                m_cost_kib: self.m_cost_kib,
                t_cost: self.t_cost,
                max: Self::MAX_WORK_KIB,
            });
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_table() {
        let p = |m, t, p| KdfParams {
            m_cost_kib: m,
            t_cost: t,
            p_cost: p,
        };
        let cases: &[(&str, KdfParams, bool)] = &[
            ("default", KdfParams::DEFAULT, true),
            ("smallest", p(8, 1, 1), true),
            ("largest memory", p(KdfParams::MAX_M_COST_KIB, 4, 1), true),
            ("zero memory", p(0, 1, 1), false),
            ("below 8 KiB per lane", p(31, 1, 4), false),
            ("one terabyte", p(u32::MAX, 1, 1), false),
            (
                "just above max memory",
                p(KdfParams::MAX_M_COST_KIB + 1, 1, 1),
                false,
            ),
            ("zero passes", p(1024, 0, 1), false),
            ("an hour of passes", p(1024, u32::MAX, 1), false),
            ("zero lanes", p(1024, 1, 0), false),
            ("too many lanes", p(1024, 1, 17), false),
            ("work cap", p(KdfParams::MAX_M_COST_KIB, 5, 1), false),
        ];
        for (name, params, ok) in cases {
            assert_eq!(params.validate().is_ok(), *ok, "{name}: {params:?}");
        }
    }
}
