//! Engine config parser, JSON and TOML: text users write by hand.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::engine::EngineConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [EngineConfig::from_json(text), EngineConfig::from_toml(text)] {
        if let Ok(config) = parsed {
            // An accepted config is valid and survives its own round trip.
            config.validate().expect("a parsed config validates");
            let value = serde_json::to_value(&config).expect("a config serializes");
            EngineConfig::from_value(value).expect("a serialized config parses");
        }
    }
});
