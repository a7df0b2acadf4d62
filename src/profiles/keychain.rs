//! The OS keychain (Secret Service, macOS Keychain, Windows Credential Manager) through
//! keyring: where broker passwords live. Entries: service "storefleet", user = profile id.

use super::ProfileError;

const SERVICE: &str = "storefleet";

/// The platform's credential store.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keychain;

fn unavailable(e: keyring::Error) -> ProfileError {
    // keyring's messages never contain the secret.
    ProfileError::Keychain(e.to_string())
}

impl Keychain {
    pub fn new() -> Self {
        Self
    }

    fn entry(&self, profile_id: &str) -> Result<keyring::Entry, ProfileError> {
        keyring::Entry::new(SERVICE, profile_id).map_err(unavailable)
    }

    pub fn get(&self, profile_id: &str) -> Result<Option<String>, ProfileError> {
        match self.entry(profile_id)?.get_password() {
            Ok(p) => Ok(Some(p)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub fn set(&self, profile_id: &str, password: &str) -> Result<(), ProfileError> {
        self.entry(profile_id)?
            .set_password(password)
            .map_err(unavailable)
    }

    pub fn delete(&self, profile_id: &str) -> Result<(), ProfileError> {
        match self.entry(profile_id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
