//! The part of the settings intake uses, resolved once at start.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::FixedOffset;
use hotline_config::Settings;

/// The api key every demo install accepts (README lists it).
pub const DEMO_API_KEY: &str = "demo-open311-key";

/// Largest request body; an Open311 POST is a few hundred bytes of form fields.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Prefix of Redis keys (the settings' namespace).
    pub namespace: String,
    pub api_keys: Arc<HashSet<String>>,
    pub jurisdiction_id: String,
    pub max_description_chars: usize,
    /// The city's offset: every datetime we write is in it.
    pub utc_offset: FixedOffset,
    pub city: String,
    pub body_limit: usize,
    /// Open311 POSTs per api key per minute; 0: no limit.
    pub posts_per_key_per_minute: u32,
}

impl IntakeConfig {
    pub fn from_settings(settings: &Settings) -> IntakeConfig {
        let mut api_keys: HashSet<String> = settings
            .intake
            .open311_api_keys
            .iter()
            .map(|k| k.trim().to_owned())
            .collect();
        if settings.demo {
            api_keys.insert(DEMO_API_KEY.to_owned());
        }
        IntakeConfig {
            namespace: settings.namespace.clone(),
            posts_per_key_per_minute: settings.intake.open311_posts_per_key_per_minute,
            api_keys: Arc::new(api_keys),
            jurisdiction_id: settings.intake.jurisdiction_id.clone(),
            max_description_chars: settings.intake.max_description_chars,
            utc_offset: settings.utc_offset(),
            city: settings.city.name.clone(),
            body_limit: BODY_LIMIT,
        }
    }

    /// The api key if it is one we issued.
    pub fn authorise<'a>(&self, api_key: Option<&'a str>) -> Option<&'a str> {
        api_key.filter(|k| self.api_keys.contains(*k))
    }

    /// A `jurisdiction_id` parameter, when given, must be ours.
    pub fn serves(&self, jurisdiction_id: Option<&str>) -> bool {
        jurisdiction_id.is_none_or(|j| j == self.jurisdiction_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Settings {
        Settings::load_from(
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .expect("valid settings")
    }

    #[test]
    fn the_demo_key_exists_only_in_demo_mode() {
        let plain = IntakeConfig::from_settings(&settings(&[(
            "HOTLINE__INTAKE__OPEN311_API_KEYS",
            "partner-key-1",
        )]));
        assert_eq!(
            plain.authorise(Some("partner-key-1")),
            Some("partner-key-1")
        );
        assert_eq!(plain.authorise(Some(DEMO_API_KEY)), None);
        assert_eq!(plain.authorise(None), None);
        let demo = IntakeConfig::from_settings(&settings(&[("HOTLINE__DEMO", "true")]));
        assert_eq!(demo.authorise(Some(DEMO_API_KEY)), Some(DEMO_API_KEY));
        assert_eq!(demo.utc_offset.local_minus_utc(), 8 * 3600);
        assert!(demo.serves(None));
        assert!(demo.serves(Some("gz.12345.gov.cn")));
        assert!(!demo.serves(Some("sz.12345.gov.cn")));
    }
}
