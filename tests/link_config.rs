//! Broker addresses and link settings that are refused before anything connects, each with a
//! one-line reason.

use storefleet::link::{
    BrokerAddress, BrokerProfile, Link, LinkConfig, LinkError, Password, Scheme,
};

fn refuse(url: &str) -> String {
    let error = url
        .parse::<BrokerAddress>()
        .expect_err(&format!("{url:?} should be refused"))
        .to_string();
    assert!(!error.contains('\n'), "{error:?}");
    error
}

#[test]
fn good_urls_parse_with_default_ports() {
    let cases = [
        (
            "mqtt://broker.store.lan",
            Scheme::Mqtt,
            "broker.store.lan",
            1883,
        ),
        (
            "mqtts://broker.store.lan",
            Scheme::Mqtts,
            "broker.store.lan",
            8883,
        ),
        ("mqtt://10.1.2.3:1884/", Scheme::Mqtt, "10.1.2.3", 1884),
        ("mqtts://[::1]:9999", Scheme::Mqtts, "::1", 9999),
    ];
    for (url, scheme, host, port) in cases {
        let address: BrokerAddress = url.parse().unwrap();
        assert_eq!(
            (address.scheme(), address.host(), address.port()),
            (scheme, host, port)
        );
    }
}

#[test]
fn bad_urls_are_refused_with_one_line_errors() {
    let cases = [
        ("", "empty"),
        ("broker:1883", "has no scheme"),
        ("http://broker", "unsupported scheme \"http\""),
        ("ssl://broker", "unsupported scheme"),
        ("mqtt://", "has no host"),
        ("mqtt://broker:0", "invalid broker port \"0\""),
        ("mqtt://broker:70000", "invalid broker port"),
        ("mqtt://broker:port", "invalid broker port"),
        ("mqtt://broker/stores", "must not have a path"),
        ("mqtt://broker?clientId=x", "must not have a path"),
        ("mqtt://bro ker", "invalid broker host"),
        ("mqtt://fe80::1", "in brackets"),
        (
            "mqtt://ops:s3cret@broker",
            "must not contain a user name or password",
        ),
        ("mqtt://broker\n:1883", "invalid broker"),
    ];
    for (url, expected) in cases {
        let error = refuse(url);
        assert!(error.contains(expected), "{url:?}: {error}");
        assert!(!error.contains("s3cret"), "{error}");
    }
}

fn config(url: &str) -> LinkConfig {
    LinkConfig::new(
        BrokerProfile::new(url.parse().unwrap()),
        "storefleet-config-test",
    )
}

fn start_error(config: LinkConfig) -> String {
    match Link::start(config) {
        Ok(_) => panic!("the link started"),
        Err(error) => {
            let text = error.to_string();
            assert!(!text.contains('\n'), "{text:?}");
            text
        }
    }
}

#[tokio::test]
async fn bad_settings_are_refused_at_start() {
    let mut tls_on_plain = config("mqtt://broker:1883");
    tls_on_plain.profile.tls.ca_file = Some("/etc/ssl/ca.pem".into());
    assert_eq!(
        start_error(tls_on_plain),
        "TLS files are set but mqtt://broker:1883 is plain TCP; use mqtts://"
    );

    let mut missing_ca = config("mqtts://broker");
    missing_ca.profile.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let error = start_error(missing_ca);
    assert!(
        error.starts_with("cannot read the CA file /nonexistent/ca.pem:"),
        "{error}"
    );

    let password_alone = config("mqtt://broker").with_password(Password::new("s3cret"));
    let error = start_error(password_alone);
    assert!(error.contains("needs a user name"), "{error}");
    assert!(!error.contains("s3cret"));

    let mut empty_id = config("mqtt://broker");
    empty_id.client_id.clear();
    assert_eq!(start_error(empty_id), "the MQTT client id is empty");
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    assert!(matches!(
        Link::start(config("mqtt://broker")),
        Err(LinkError::NoRuntime)
    ));
}
