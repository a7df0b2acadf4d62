//! A store's IANA time zone, looked up in the zone database bundled into the binary.

use std::fmt;

use jiff::tz::TimeZone;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?} (write an IANA name like Europe/Berlin or America/New_York)")]
pub struct ZoneError(pub String);

/// A known zone and its IANA name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreZone {
    name: String,
    tz: TimeZone,
}

impl StoreZone {
    /// Looks `name` up (case-insensitively, as the database does); keeps its canonical
    /// spelling.
    pub fn parse(name: &str) -> Result<Self, ZoneError> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(ZoneError(name.to_owned()));
        }
        let tz = TimeZone::get(trimmed).map_err(|_| ZoneError(trimmed.to_owned()))?;
        let name = tz.iana_name().unwrap_or(trimmed).to_owned();
        Ok(Self { name, tz })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl std::str::FromStr for StoreZone {
    type Err = ZoneError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl fmt::Display for StoreZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_zones_parse_and_unknown_ones_are_refused() {
        assert_eq!(
            StoreZone::parse("Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert_eq!(StoreZone::parse(" UTC ").unwrap().name(), "UTC");
        let e = StoreZone::parse("Europe/Berlinn").unwrap_err().to_string();
        assert!(
            e.starts_with(r#"unknown time zone "Europe/Berlinn""#),
            "{e}"
        );
        assert!(StoreZone::parse("").is_err());
    }
}
