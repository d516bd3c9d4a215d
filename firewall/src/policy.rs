//! What the implicit last rule (65535) does with a packet no other rule matched.

use std::fmt;
use std::str::FromStr;

/// The vnet's default policy: ipfw's rule 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DefaultPolicy {
    /// Pass what no rule matched (ipfw's `allow ip from any to any`).
    #[default]
    Allow,
    /// Drop what no rule matched (ipfw's `deny ip from any to any`).
    Deny,
}

impl DefaultPolicy {
    pub const fn as_str(self) -> &'static str {
        match self {
            DefaultPolicy::Allow => "allow",
            DefaultPolicy::Deny => "deny",
        }
    }
}

impl fmt::Display for DefaultPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was neither `allow` nor `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseDefaultPolicyError;

impl fmt::Display for ParseDefaultPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected \"allow\" or \"deny\"")
    }
}

impl std::error::Error for ParseDefaultPolicyError {}

impl FromStr for DefaultPolicy {
    type Err = ParseDefaultPolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(DefaultPolicy::Allow),
            "deny" => Ok(DefaultPolicy::Deny),
            _ => Err(ParseDefaultPolicyError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!("allow".parse(), Ok(DefaultPolicy::Allow));
        assert_eq!("deny".parse(), Ok(DefaultPolicy::Deny));
        assert_eq!(
            "drop".parse::<DefaultPolicy>(),
            Err(ParseDefaultPolicyError)
        );
        assert_eq!(
            "Allow".parse::<DefaultPolicy>(),
            Err(ParseDefaultPolicyError)
        );
        assert_eq!(DefaultPolicy::default(), DefaultPolicy::Allow);
        for p in [DefaultPolicy::Allow, DefaultPolicy::Deny] {
            assert_eq!(p.to_string().parse(), Ok(p));
        }
        assert_eq!(
            ParseDefaultPolicyError.to_string(),
            "expected \"allow\" or \"deny\""
        );
    }
}
