//! [`Digest`]: the SHA-256 of a module, written `sha256:<64 hex digits>` in
//! configuration (a pin) and in the cache's records.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

const PREFIX: &str = "sha256:";

/// The SHA-256 of a module's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(sha2::Sha256::digest(bytes).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without the `sha256:` prefix (the name
    /// of the digest's blob in the cache).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses `sha256:<64 hex digits>` (either case).
    pub fn parse(text: &str) -> Result<Digest, String> {
        let Some(hex_digits) = text.strip_prefix(PREFIX) else {
            let hint = match text.split_once(':') {
                Some((algorithm, _)) => format!("only sha256 is supported, not {algorithm:?}"),
                None => "it needs the \"sha256:\" prefix".to_owned(),
            };
            return Err(format!(
                "invalid digest {text:?}: expected sha256:<64 hex digits>; {hint}"
            ));
        };
        if hex_digits.len() != 64 {
            return Err(format!(
                "invalid digest {text:?}: a SHA-256 has 64 hex digits, this has {}",
                hex_digits.chars().count()
            ));
        }
        let mut bytes = [0; 32];
        hex::decode_to_slice(hex_digits, &mut bytes).map_err(|_| {
            format!(
                "invalid digest {text:?}: the part after \"sha256:\" must be hex digits (0-9, a-f)"
            )
        })?;
        Ok(Digest(bytes))
    }
}

impl FromStr for Digest {
    type Err = String;

    fn from_str(text: &str) -> Result<Digest, String> {
        Digest::parse(text)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
