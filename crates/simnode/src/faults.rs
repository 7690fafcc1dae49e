//! Fault injection, deterministic under a seed.
//!
//! Invariant: for a given seed and the same sequence of requests, the same faults fire: every
//! rule with `rate < 1` draws exactly one number from a SplitMix64 generator per matching
//! request, in rule order, and nothing else consumes the generator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What a fired fault does to a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultAction {
    /// Wait `ms` before processing the call (latency).
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Process the call (e.g. accept the transaction), then close the connection without
    /// answering: the Monappy failure.
    DropResponse,
    /// Process the call, then answer only after `ms` (after the caller's timeout).
    DelayResponse {
        /// Milliseconds.
        ms: u64,
    },
    /// Reset the TCP connection (RST) without processing the call.
    Reset,
    /// Answer with this JSON-RPC error without processing the call (HTTP status by Core's rule).
    Error {
        /// JSON-RPC error code (e.g. -28 warming up).
        code: i64,
        /// Error message.
        message: String,
    },
    /// Answer with a raw HTTP status and plain body without processing (e.g. 503).
    Http {
        /// HTTP status code.
        status: u16,
        /// Body text.
        body: String,
    },
}

/// A fault rule: which calls it applies to, how often, and what it does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// RPC method it applies to (`None` = every call).
    #[serde(default)]
    pub method: Option<String>,
    /// Probability in [0, 1] that it fires on a matching call.
    #[serde(default = "one")]
    pub rate: f64,
    /// Fire at most this many times (`None` = unlimited).
    #[serde(default)]
    pub times: Option<u32>,
    /// What it does.
    pub action: FaultAction,
}

fn one() -> f64 {
    1.0
}

impl FaultRule {
    /// A rule that always fires on `method` (or every call when `None`).
    pub fn always(method: Option<&str>, action: FaultAction) -> FaultRule {
        FaultRule {
            method: method.map(str::to_string),
            rate: 1.0,
            times: None,
            action,
        }
    }

    /// A rule firing once on `method`.
    pub fn once(method: &str, action: FaultAction) -> FaultRule {
        FaultRule {
            method: Some(method.to_string()),
            rate: 1.0,
            times: Some(1),
            action,
        }
    }

    /// A rule firing with probability `rate` on `method` (or every call when `None`).
    pub fn with_rate(method: Option<&str>, rate: f64, action: FaultAction) -> FaultRule {
        FaultRule {
            method: method.map(str::to_string),
            rate,
            times: None,
            action,
        }
    }
}

#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct Inner {
    rules: Vec<FaultRule>,
    rng: SplitMix64,
    work_queue_limit: Option<usize>,
}

/// The fault controls of one node.
#[derive(Debug)]
pub struct Faults {
    inner: Mutex<Inner>,
    in_flight: AtomicUsize,
}

/// Guard counting one in-flight call; decrements on drop.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Faults {
    /// No faults, generator seeded with `seed`.
    pub fn new(seed: u64) -> Faults {
        Faults {
            inner: Mutex::new(Inner {
                rules: Vec::new(),
                rng: SplitMix64(seed),
                work_queue_limit: None,
            }),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a rule (rules are evaluated in the order added).
    pub fn add(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Removes every rule (the work-queue limit stays).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Re-seeds the generator.
    pub fn reseed(&self, seed: u64) {
        self.lock().rng = SplitMix64(seed);
    }

    /// Answers HTTP 503 "Work queue depth exceeded" once more than `limit` calls are in flight
    /// (`None` = unlimited), like monacoind's `-rpcworkqueue`.
    pub fn set_work_queue_limit(&self, limit: Option<usize>) {
        self.lock().work_queue_limit = limit;
    }

    /// Current number of calls being processed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Admits one call, or `None` when the work queue is full.
    pub fn admit(&self) -> Option<InFlight<'_>> {
        let limit = self.lock().work_queue_limit;
        let before = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        match limit {
            Some(l) if before >= l => None,
            _ => Some(guard),
        }
    }

    /// The actions that fire for a request calling `methods` (a batch may call several).
    pub fn decide(&self, methods: &[String]) -> Vec<FaultAction> {
        let mut inner = self.lock();
        let Inner { rules, rng, .. } = &mut *inner;
        let mut fired = Vec::new();
        for rule in rules.iter_mut() {
            let matches = match &rule.method {
                None => true,
                Some(m) => methods.iter().any(|x| x == m),
            };
            if !matches || rule.times == Some(0) {
                continue;
            }
            let fire = if rule.rate >= 1.0 {
                true
            } else {
                rng.next_f64() < rule.rate
            };
            if fire {
                if let Some(t) = rule.times.as_mut() {
                    *t -= 1;
                }
                fired.push(rule.action.clone());
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(seed: u64) -> Vec<bool> {
        let f = Faults::new(seed);
        f.add(FaultRule::with_rate(
            Some("sendrawtransaction"),
            0.5,
            FaultAction::DropResponse,
        ));
        (0..64)
            .map(|_| !f.decide(&["sendrawtransaction".to_string()]).is_empty())
            .collect()
    }

    #[test]
    fn same_seed_same_faults() {
        assert_eq!(pattern(7), pattern(7));
        assert_ne!(pattern(7), pattern(8));
        let fired = pattern(7).iter().filter(|b| **b).count();
        assert!((16..=48).contains(&fired), "{fired}");
    }

    #[test]
    fn once_fires_once_and_only_on_its_method() {
        let f = Faults::new(1);
        f.add(FaultRule::once("getblockcount", FaultAction::Reset));
        assert!(f.decide(&["getblockhash".into()]).is_empty());
        assert_eq!(
            f.decide(&["getblockcount".into()]),
            vec![FaultAction::Reset]
        );
        assert!(f.decide(&["getblockcount".into()]).is_empty());
    }

    #[test]
    fn work_queue_limit() {
        let f = Faults::new(1);
        f.set_work_queue_limit(Some(1));
        let a = f.admit();
        assert!(a.is_some());
        assert!(f.admit().is_none());
        drop(a);
        assert!(f.admit().is_some());
    }

    #[test]
    fn rules_deserialize_from_control_json() {
        let r: FaultRule = serde_json::from_str(
            r#"{"method":"sendrawtransaction","action":{"kind":"delay_response","ms":500}}"#,
        )
        .unwrap();
        assert_eq!(r.rate, 1.0);
        assert_eq!(r.action, FaultAction::DelayResponse { ms: 500 });
    }
}
