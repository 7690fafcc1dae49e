//! QR settings: density presets, frame rate and fountain redundancy.
//!
//! Invariant: a [`QrSettings`] that passed [`QrSettings::validate`] yields a positive, finite
//! frame interval and a bounded number of extra frames, so encoding always terminates.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How much data each QR frame carries (and how large its modules are drawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Density {
    /// Small frames (about QR version 8): easiest to scan with a poor camera; most frames.
    Low,
    /// The default (about QR version 13): a good balance for phone and laptop cameras.
    #[default]
    Medium,
    /// Large frames (about QR version 19): fewest frames; needs a sharp camera and screen.
    High,
}

impl Density {
    /// All presets, lowest first.
    pub const ALL: [Density; 3] = [Density::Low, Density::Medium, Density::High];

    /// Maximum bytes of message carried by one fountain fragment (one frame).
    pub fn max_fragment_len(self) -> usize {
        match self {
            Density::Low => 100,
            Density::Medium => 250,
            Density::High => 500,
        }
    }

    /// Pixels per QR module in PNG and GIF output (frames come out roughly 550-650 px wide).
    pub fn module_px(self) -> u32 {
        match self {
            Density::Low => 10,
            Density::Medium => 8,
            Density::High => 6,
        }
    }

    /// The preset's name as used on the command line (`low`, `medium`, `high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Density::Low => "low",
            Density::Medium => "medium",
            Density::High => "high",
        }
    }
}

impl fmt::Display for Density {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A density name that is not `low`, `medium` or `high`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown qr density {0:?}: expected low, medium or high")]
#[non_exhaustive]
pub struct ParseDensityError(pub String);

impl FromStr for Density {
    type Err = ParseDensityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Density::Low),
            "medium" => Ok(Density::Medium),
            "high" => Ok(Density::High),
            _ => Err(ParseDensityError(s.to_owned())),
        }
    }
}

/// Settings of an animated QR sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QrSettings {
    /// Fragment length and module size preset.
    pub density: Density,
    /// Frames shown per second (GIF frame delay and terminal animation speed).
    pub fps: f32,
    /// Extra fountain frames emitted beyond the minimum, as a fraction of the fragment count
    /// (the default 2.0 emits three times as many frames as fragments, plus 2), so that a
    /// finite set of frames still decodes when about a third of them are missed.
    pub extra_frames_ratio: f32,
}

/// Lowest accepted frame rate.
pub const MIN_FPS: f32 = 0.1;
/// Highest accepted frame rate.
pub const MAX_FPS: f32 = 30.0;
/// Highest accepted [`QrSettings::extra_frames_ratio`].
pub const MAX_EXTRA_FRAMES_RATIO: f32 = 10.0;

impl Default for QrSettings {
    fn default() -> Self {
        QrSettings {
            density: Density::Medium,
            fps: 5.0,
            extra_frames_ratio: 2.0,
        }
    }
}

/// Settings that cannot produce a usable QR sequence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QrSettingsError {
    /// The frame rate is not a number between [`MIN_FPS`] and [`MAX_FPS`].
    #[error("qr fps {0} is out of range: expected {MIN_FPS} to {MAX_FPS} frames per second")]
    Fps(f32),
    /// The extra-frames ratio is not a number between 0 and [`MAX_EXTRA_FRAMES_RATIO`].
    #[error("qr extra frames ratio {0} is out of range: expected 0 to {MAX_EXTRA_FRAMES_RATIO}")]
    ExtraFramesRatio(f32),
}

impl QrSettings {
    /// Default settings with the given density.
    pub fn with_density(density: Density) -> Self {
        QrSettings {
            density,
            ..QrSettings::default()
        }
    }

    /// Checks that the frame rate and the redundancy are in range.
    pub fn validate(&self) -> Result<(), QrSettingsError> {
        if !self.fps.is_finite() || !(MIN_FPS..=MAX_FPS).contains(&self.fps) {
            return Err(QrSettingsError::Fps(self.fps));
        }
        if !self.extra_frames_ratio.is_finite()
            || !(0.0..=MAX_EXTRA_FRAMES_RATIO).contains(&self.extra_frames_ratio)
        {
            return Err(QrSettingsError::ExtraFramesRatio(self.extra_frames_ratio));
        }
        Ok(())
    }

    /// Time each frame is shown, from `fps` (clamped into the accepted range).
    pub fn frame_interval(&self) -> Duration {
        let fps = if self.fps.is_finite() {
            self.fps.clamp(MIN_FPS, MAX_FPS)
        } else {
            5.0
        };
        Duration::from_secs_f64(1.0 / f64::from(fps))
    }

    /// Number of frames emitted for a message of `fragment_count` fountain fragments:
    /// 1 for a single-part UR, else `fragment_count + ceil(fragment_count * ratio) + 2`.
    pub fn frames_for(&self, fragment_count: usize) -> usize {
        if fragment_count <= 1 {
            return 1;
        }
        let ratio = if self.extra_frames_ratio.is_finite() {
            f64::from(self.extra_frames_ratio.clamp(0.0, MAX_EXTRA_FRAMES_RATIO))
        } else {
            0.0
        };
        // fragment_count is bounded by the message size, so the float round trip is exact
        // for any realistic count; the cast saturates otherwise.
        let extra = (fragment_count as f64 * ratio).ceil() as usize;
        fragment_count.saturating_add(extra).saturating_add(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_parses_case_insensitively() {
        for (text, want) in [
            ("low", Some(Density::Low)),
            ("Medium", Some(Density::Medium)),
            (" HIGH ", Some(Density::High)),
            ("ultra", None),
            ("", None),
        ] {
            assert_eq!(text.parse::<Density>().ok(), want, "{text:?}");
        }
    }

    #[test]
    fn frames_for_adds_redundancy() {
        let s = QrSettings::default();
        assert_eq!(s.frames_for(1), 1);
        assert_eq!(s.frames_for(10), 32);
        let half = QrSettings {
            extra_frames_ratio: 0.5,
            ..s
        };
        assert_eq!(half.frames_for(9), 9 + 5 + 2);
    }

    #[test]
    fn validate_rejects_bad_numbers() {
        let ok = QrSettings::default();
        assert!(ok.validate().is_ok());
        for fps in [0.0, -1.0, f32::NAN, f32::INFINITY, 31.0] {
            let s = QrSettings { fps, ..ok };
            assert!(
                matches!(s.validate(), Err(QrSettingsError::Fps(_))),
                "{fps}"
            );
        }
        for r in [-0.1, f32::NAN, 11.0] {
            let s = QrSettings {
                extra_frames_ratio: r,
                ..ok
            };
            assert!(
                matches!(s.validate(), Err(QrSettingsError::ExtraFramesRatio(_))),
                "{r}"
            );
        }
    }
}
