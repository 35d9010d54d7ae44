//! The demo shop's fixed vocabularies: shapes, materials, colours, price
//! bands, brands and their markets, per-region taste parameters, and the
//! lens, coating, contact-lens, solution, accessory and eye-test lines.

pub(super) const SHAPES: [&str; 8] = [
    "round",
    "square",
    "rectangle",
    "cat_eye",
    "aviator",
    "browline",
    "oval",
    "geometric",
];
pub(super) const MATERIALS: [&str; 5] = ["acetate", "metal", "titanium", "tr90", "mixed"];
pub(super) const MATERIAL_TITLE: [&str; 5] =
    ["acetate", "metal", "titanium", "TR90", "acetate & metal"];
pub(super) const COLOURS: [&str; 12] = [
    "black",
    "tortoiseshell",
    "gold",
    "silver",
    "gunmetal",
    "navy",
    "crystal",
    "burgundy",
    "green",
    "rose_gold",
    "havana",
    "grey",
];
pub(super) const GENDERS: [&str; 4] = ["women", "men", "unisex", "kids"];
pub(super) const BANDS: [&str; 4] = ["budget", "mid", "premium", "luxury"];
pub(super) const AGE_BANDS: [&str; 6] = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"];
pub(super) const LENS_TYPES: [&str; 3] = ["single_vision", "varifocal", "reading"];
pub(super) const LENS_INDEX: [f64; 4] = [1.5, 1.6, 1.67, 1.74];
pub(super) const COATINGS: [&str; 4] = ["anti_glare", "blue_light", "photochromic", "scratch"];
pub(super) const CL_TYPES: [&str; 4] = ["daily", "monthly", "toric", "multifocal"];
pub(super) const ACC_TYPES: [&str; 5] = ["case", "cloth", "chain", "cleaning", "repair"];

// "Not applicable" slots: taste tables have one extra neutral entry.
pub(super) const NA_SHAPE: u8 = SHAPES.len() as u8;
pub(super) const NA_MAT: u8 = MATERIALS.len() as u8;
pub(super) const NA_COLOUR: u8 = COLOURS.len() as u8;
pub(super) const NA_BAND: u8 = BANDS.len() as u8;
pub(super) const NA_GENDER: u8 = GENDERS.len() as u8;
pub(super) const NA_BRAND: u8 = BRANDS.len() as u8;
pub(super) const KIDS: u8 = 3;

pub(super) const FRAMES: u8 = 0;
pub(super) const SUNGLASSES: u8 = 1;
pub(super) const LENSES: u8 = 2;
pub(super) const COATING: u8 = 3;
pub(super) const CONTACTS: u8 = 4;
pub(super) const SOLUTIONS: u8 = 5;
pub(super) const ACCESSORIES: u8 = 6;
pub(super) const EYE_TESTS: u8 = 7;
pub(super) const ID_PREFIX: [&str; 8] = ["FR", "SG", "LN", "CT", "CL", "CS", "AC", "ET"];

/// Model names by shape, so titles read like real products.
pub(super) const MODEL_NAMES: [&[&str]; 8] = [
    &["Harlow", "Lennon", "Orbit", "Milo", "Pebble"],
    &["Carter", "Block", "Jude", "Hudson", "Baxter"],
    &["Linear", "Ellis", "Drift", "Sterling", "Rowan"],
    &["Audrey", "Marlowe", "Kitty", "Sienna", "Greta"],
    &["Pilot", "Skyline", "Maverick", "Aviator", "Cruise"],
    &["Clubmaster", "Dean", "Brow", "Miller", "Archer"],
    &["Ada", "Remy", "Oval", "Iris", "Luna"],
    &["Hexa", "Prism", "Facet", "Octo", "Vertex"],
];

/// Brand families of frames and sunglasses.
pub(super) struct Brand {
    pub(super) name: &'static str,
    /// Model-code prefix and suffix for optical frames / sunglasses.
    pub(super) optical: (&'static str, &'static str),
    pub(super) sun: (&'static str, &'static str),
    pub(super) frames: bool,
    pub(super) sunglasses: bool,
    pub(super) bands: (u8, u8),
    /// Share of the catalog and of customers' brand choices.
    pub(super) weight: f64,
    /// Relative use of acetate, metal, titanium, tr90, mixed.
    pub(super) materials: [f64; 5],
    /// Whether a branded case is sold.
    pub(super) case: bool,
    /// Markets (bitmask over REGIONS) where the brand is sold; 0 = all.
    pub(super) markets: u32,
}

const UK: u32 = 0b0000_0000_0011_1111;
const IE: u32 = 0b0000_0000_1100_0000;
const NL: u32 = 1 << 8;
const NORDICS: u32 = 0b0001_1110_0000_0000;
const ANZ: u32 = 0b0110_0000_0000_0000;
pub(super) const ALL_REGIONS: u32 = (1 << 15) - 1;
pub(super) const MARKETS: [u32; 4] = [UK | IE, NL, NORDICS, ANZ];

#[rustfmt::skip]
pub(super) const BRANDS: [Brand; 18] = [
    Brand { name: "Ray-Ban", optical: ("RX", ""), sun: ("RB", ""), frames: true, sunglasses: true, bands: (1, 2), weight: 10.0, materials: [5.0, 4.0, 0.5, 0.5, 1.0], case: true, markets: 0 },
    Brand { name: "Oakley", optical: ("OX", ""), sun: ("OO", ""), frames: true, sunglasses: true, bands: (1, 2), weight: 7.0, materials: [0.5, 2.0, 1.5, 5.0, 1.0], case: true, markets: 0 },
    Brand { name: "Tom Ford", optical: ("FT", ""), sun: ("FT", "S"), frames: true, sunglasses: true, bands: (3, 3), weight: 3.0, materials: [5.0, 2.0, 1.0, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Prada", optical: ("PR ", "V"), sun: ("PR ", "S"), frames: true, sunglasses: true, bands: (3, 3), weight: 3.0, materials: [5.0, 2.0, 0.5, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Gucci", optical: ("GG", "O"), sun: ("GG", "S"), frames: true, sunglasses: true, bands: (3, 3), weight: 3.0, materials: [5.0, 2.0, 0.5, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Persol", optical: ("PO", "V"), sun: ("PO", "S"), frames: true, sunglasses: true, bands: (2, 2), weight: 3.0, materials: [6.0, 1.0, 0.3, 0.0, 0.5], case: true, markets: 0 },
    Brand { name: "Oliver Peoples", optical: ("OV", ""), sun: ("OV", "SU"), frames: true, sunglasses: true, bands: (3, 3), weight: 2.0, materials: [4.0, 2.0, 2.0, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Lindberg", optical: ("", ""), sun: ("", ""), frames: true, sunglasses: false, bands: (3, 3), weight: 1.5, materials: [0.3, 0.5, 8.0, 0.0, 0.5], case: true, markets: 0 },
    Brand { name: "Silhouette", optical: ("", ""), sun: ("", "S"), frames: true, sunglasses: true, bands: (2, 3), weight: 2.0, materials: [0.2, 1.0, 6.0, 1.0, 0.5], case: true, markets: 0 },
    Brand { name: "Hugo Boss", optical: ("BOSS ", ""), sun: ("BOSS ", "/S"), frames: true, sunglasses: true, bands: (2, 2), weight: 3.0, materials: [3.0, 3.0, 1.0, 0.5, 1.0], case: true, markets: 0 },
    Brand { name: "Calvin Klein", optical: ("CK", ""), sun: ("CK", "S"), frames: true, sunglasses: true, bands: (1, 1), weight: 4.0, materials: [3.0, 3.0, 0.5, 1.0, 1.0], case: false, markets: 0 },
    Brand { name: "Vogue Eyewear", optical: ("VO", ""), sun: ("VO", "S"), frames: true, sunglasses: true, bands: (1, 1), weight: 4.0, materials: [5.0, 2.0, 0.0, 1.0, 1.0], case: false, markets: 0 },
    Brand { name: "Carrera", optical: ("CARRERA ", ""), sun: ("CARRERA ", "/S"), frames: true, sunglasses: true, bands: (1, 2), weight: 3.0, materials: [2.0, 4.0, 1.0, 1.0, 1.0], case: true, markets: 0 },
    Brand { name: "Superdry", optical: ("SDO ", ""), sun: ("SDS ", ""), frames: true, sunglasses: true, bands: (0, 1), weight: 3.0, materials: [4.0, 2.0, 0.0, 2.0, 1.0], case: false, markets: UK | IE },
    Brand { name: "Maui Jim", optical: ("MJ", ""), sun: ("MJ", ""), frames: false, sunglasses: true, bands: (2, 2), weight: 2.0, materials: [1.0, 2.0, 1.0, 3.0, 1.0], case: true, markets: 0 },
    Brand { name: "Quay", optical: ("QW-", ""), sun: ("QW-", ""), frames: false, sunglasses: true, bands: (0, 1), weight: 3.0, materials: [3.0, 2.0, 0.0, 2.0, 1.0], case: false, markets: ANZ },
    Brand { name: "Sightline Studio", optical: ("SL", ""), sun: ("SLS", ""), frames: true, sunglasses: true, bands: (0, 1), weight: 12.0, materials: [4.0, 3.0, 1.0, 3.0, 1.0], case: false, markets: 0 },
    Brand { name: "Sightline Kids", optical: ("SLK", ""), sun: ("SLK", "S"), frames: true, sunglasses: true, bands: (0, 0), weight: 0.0, materials: [2.0, 1.0, 0.0, 5.0, 0.5], case: false, markets: 0 },
];
pub(super) const RAY_BAN: usize = 0;
pub(super) const OAKLEY: usize = 1;
pub(super) const SIGHTLINE_KIDS: usize = 17;
pub(super) const MAUI_JIM: usize = 14;

/// Planted regional preferences (parallel to [`REGIONS`](super::REGIONS)).
pub(super) struct RegionParams {
    pub(super) weight: f64,
    pub(super) south: bool,
    pub(super) sun_share: f64,
    pub(super) channels: [f64; 4],
    pub(super) brands: &'static [(usize, f64)],
    pub(super) shapes: [f64; 8],
    pub(super) materials: [f64; 5],
    pub(super) colours: [f64; 12],
    pub(super) bands: [f64; 4],
    pub(super) polarised: f64,
    pub(super) photochromic: f64,
}

pub(super) const FLAT8: [f64; 8] = [1.0; 8];
const FLAT5: [f64; 5] = [1.0; 5];
pub(super) const FLAT12: [f64; 12] = [1.0; 12];
const FLAT4: [f64; 4] = [1.0; 4];
const UK_CH: [f64; 4] = [0.38, 0.22, 0.32, 0.08];
const NORDIC_SHAPES: [f64; 8] = [1.4, 0.8, 1.4, 0.6, 0.8, 0.7, 1.1, 0.8];
const NORDIC_MATS: [f64; 5] = [0.7, 1.3, 3.0, 0.8, 0.6];
const NORDIC_COLOURS: [f64; 12] = [1.0, 0.6, 0.8, 1.8, 1.5, 0.8, 1.6, 0.6, 0.7, 0.8, 0.6, 1.8];
const NORDIC_BRANDS: &[(usize, f64)] = &[(7, 3.5), (8, 2.5)];

const fn region(
    weight: f64,
    sun_share: f64,
    channels: [f64; 4],
    brands: &'static [(usize, f64)],
) -> RegionParams {
    RegionParams {
        weight,
        south: false,
        sun_share,
        channels,
        brands,
        shapes: FLAT8,
        materials: FLAT5,
        colours: FLAT12,
        bands: FLAT4,
        polarised: 1.0,
        photochromic: 1.0,
    }
}

#[rustfmt::skip]
pub(super) const REGION_PARAMS: [RegionParams; 15] = [
    RegionParams { bands: [0.8, 1.0, 1.2, 1.7], ..region(14.0, 0.16, [0.40, 0.30, 0.22, 0.08], &[(2, 1.8), (6, 1.8), (4, 1.5)]) },
    region(12.0, 0.16, UK_CH, &[(5, 1.4)]),
    region(9.0, 0.16, UK_CH, &[(OAKLEY, 3.5), (12, 3.0)]),
    RegionParams { bands: [1.3, 1.1, 0.9, 0.7], ..region(9.0, 0.15, UK_CH, &[(13, 1.6), (16, 1.3)]) },
    RegionParams { photochromic: 2.5, ..region(6.0, 0.09, UK_CH, &[(9, 1.5)]) },
    region(4.0, 0.14, UK_CH, &[(16, 1.4)]),
    region(5.0, 0.14, [0.40, 0.20, 0.32, 0.08], &[(RAY_BAN, 2.0)]),
    region(4.0, 0.13, [0.36, 0.18, 0.38, 0.08], &[(RAY_BAN, 1.6), (16, 1.3)]),
    RegionParams {
        shapes: [2.0, 0.8, 0.7, 1.0, 0.7, 0.8, 1.0, 1.8],
        materials: [1.4, 1.0, 0.8, 1.0, 1.0],
        colours: [1.0, 1.0, 0.8, 0.8, 0.8, 1.0, 1.8, 1.2, 1.8, 0.8, 1.0, 1.0],
        ..region(9.0, 0.18, [0.45, 0.25, 0.22, 0.08], &[(11, 1.5)])
    },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(5.0, 0.14, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(3.0, 0.14, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(3.0, 0.14, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(3.0, 0.13, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { south: true, polarised: 2.5, photochromic: 1.5, shapes: [0.9, 1.0, 1.0, 1.0, 1.6, 0.9, 1.0, 1.0], ..region(10.0, 0.42, [0.35, 0.25, 0.32, 0.08], &[(15, 2.2), (MAUI_JIM, 2.2), (OAKLEY, 1.5)]) },
    RegionParams { south: true, polarised: 2.2, photochromic: 1.4, ..region(4.0, 0.38, [0.35, 0.20, 0.37, 0.08], &[(15, 2.0), (MAUI_JIM, 2.0)]) },
];

// Lenses, coatings, contact lenses, solutions, accessories, eye tests.

/// (brand, product line, price band) of spectacle-lens makers.
pub(super) const LENS_LINES: [(&str, [&str; 3], u8); 4] = [
    (
        "Sightline",
        [
            "Sightline Clarity",
            "Sightline Clarity Progressive",
            "Sightline Clarity Reader",
        ],
        0,
    ),
    (
        "Hoya",
        ["Hoya Hilux", "Hoya iD MyStyle", "Hoya Hilux Reader"],
        1,
    ),
    (
        "Essilor",
        ["Essilor Eyezen", "Essilor Varilux", "Essilor Eyezen Start"],
        2,
    ),
    (
        "Zeiss",
        [
            "Zeiss SmartLife",
            "Zeiss SmartLife Progressive",
            "Zeiss SmartLife Digital",
        ],
        3,
    ),
];
/// Coating titles by (line, coating type).
pub(super) const COATING_LINES: [(&str, [&str; 4], u8); 4] = [
    (
        "Sightline",
        [
            "Sightline anti-glare",
            "Sightline blue light filter",
            "Sightline light-reactive",
            "Sightline scratch-resistant",
        ],
        0,
    ),
    (
        "Essilor",
        [
            "Crizal Sapphire anti-glare",
            "Crizal Prevencia blue light",
            "Transitions GEN S photochromic",
            "Crizal Easy Pro scratch-resistant",
        ],
        2,
    ),
    (
        "Zeiss",
        [
            "DuraVision Platinum anti-glare",
            "Zeiss BlueGuard",
            "Zeiss PhotoFusion X",
            "DuraVision scratch-resistant",
        ],
        3,
    ),
    (
        "Hoya",
        [
            "Hi-Vision Meiryo anti-glare",
            "Hoya Recharge blue light",
            "Hoya Sensity 2",
            "Hi-Vision LongLife",
        ],
        1,
    ),
];
/// (brand, line, type index, daily replacement, packs as (lenses, days of wear), base price).
#[allow(clippy::type_complexity)]
pub(super) const CL_LINES: [(&str, &str, u8, bool, &[(u32, u32)], f64); 18] = [
    (
        "Acuvue",
        "Acuvue Oasys 1-Day",
        0,
        true,
        &[(30, 30), (90, 90)],
        32.0,
    ),
    (
        "Biofinity",
        "Biofinity",
        1,
        false,
        &[(3, 90), (6, 180)],
        30.0,
    ),
    (
        "Acuvue",
        "Acuvue Oasys for Astigmatism",
        2,
        false,
        &[(6, 90)],
        38.0,
    ),
    (
        "Dailies",
        "Dailies Total1 Multifocal",
        3,
        true,
        &[(30, 30), (90, 90)],
        45.0,
    ),
    (
        "Dailies",
        "Dailies AquaComfort Plus",
        0,
        true,
        &[(30, 30), (90, 90)],
        24.0,
    ),
    (
        "Air Optix",
        "Air Optix plus HydraGlyde",
        1,
        false,
        &[(3, 90), (6, 180)],
        28.0,
    ),
    (
        "Biofinity",
        "Biofinity Toric",
        2,
        false,
        &[(3, 90), (6, 180)],
        40.0,
    ),
    (
        "Biofinity",
        "Biofinity Multifocal",
        3,
        false,
        &[(3, 90), (6, 180)],
        48.0,
    ),
    (
        "Dailies",
        "Dailies Total1",
        0,
        true,
        &[(30, 30), (90, 90)],
        36.0,
    ),
    (
        "Sightline",
        "Sightline Monthly",
        1,
        false,
        &[(3, 90), (6, 180)],
        19.0,
    ),
    (
        "Dailies",
        "Dailies AquaComfort Plus Toric",
        2,
        true,
        &[(30, 30), (90, 90)],
        33.0,
    ),
    (
        "Acuvue",
        "Acuvue Moist Multifocal",
        3,
        true,
        &[(30, 30)],
        40.0,
    ),
    ("MyDay", "MyDay", 0, true, &[(30, 30), (90, 90)], 30.0),
    (
        "Proclear",
        "Proclear 1 Day",
        0,
        true,
        &[(30, 30), (90, 90)],
        22.0,
    ),
    (
        "Acuvue",
        "Acuvue Moist 1-Day",
        0,
        true,
        &[(30, 30), (90, 90)],
        26.0,
    ),
    (
        "Sightline",
        "Sightline Daily",
        0,
        true,
        &[(30, 30), (90, 90)],
        16.0,
    ),
    (
        "Air Optix",
        "Air Optix for Astigmatism",
        2,
        false,
        &[(3, 90)],
        36.0,
    ),
    (
        "Sightline",
        "Sightline Toric Daily",
        2,
        true,
        &[(30, 30)],
        24.0,
    ),
];
/// (brand, title, kind, size in ml, price).
pub(super) const SOLUTIONS_LIST: [(&str, &str, &str, f64, f64); 12] = [
    (
        "Opti-Free",
        "Opti-Free PureMoist 300ml",
        "multi_purpose",
        300.0,
        11.0,
    ),
    (
        "Biotrue",
        "Biotrue multi-purpose solution 300ml",
        "multi_purpose",
        300.0,
        10.0,
    ),
    (
        "Sightline",
        "Sightline All-in-One 360ml",
        "multi_purpose",
        360.0,
        7.0,
    ),
    (
        "AOSept",
        "AOSept Plus with HydraGlyde 360ml",
        "peroxide",
        360.0,
        12.0,
    ),
    ("Renu", "Renu Advanced 360ml", "multi_purpose", 360.0, 9.0),
    (
        "Complete",
        "Complete RevitaLens 360ml",
        "multi_purpose",
        360.0,
        10.0,
    ),
    (
        "Sightline",
        "Sightline All-in-One 3 × 360ml",
        "multi_purpose",
        1080.0,
        18.0,
    ),
    (
        "Opti-Free",
        "Opti-Free PureMoist twin pack 2 × 300ml",
        "multi_purpose",
        600.0,
        19.0,
    ),
    (
        "Sightline",
        "Sightline travel pack 100ml",
        "multi_purpose",
        100.0,
        4.0,
    ),
    (
        "Biotrue",
        "Biotrue twin pack 2 × 300ml",
        "multi_purpose",
        600.0,
        17.0,
    ),
    (
        "Sightline",
        "Sightline saline spray 150ml",
        "saline",
        150.0,
        5.0,
    ),
    ("Blink", "Blink Contacts eye drops 10ml", "drops", 10.0, 8.0),
];
/// Own-label accessories: (type index, name, price).
pub(super) const OWN_ACCESSORIES: [(u8, &str, f64); 11] = [
    (0, "hard case", 8.0),
    (1, "microfibre cloth", 4.0),
    (2, "glasses chain", 12.0),
    (0, "soft pouch", 5.0),
    (3, "lens cleaning spray 30ml", 6.0),
    (1, "lens wipes, 52 pack", 7.0),
    (2, "sports cord", 9.0),
    (0, "folding case", 10.0),
    (3, "anti-fog spray", 8.0),
    (4, "glasses repair kit", 6.0),
    (2, "beaded chain", 15.0),
];
/// Colours of own-label accessory variants (indices into COLOURS).
pub(super) const ACC_COLOURS: [u8; 8] = [0, 5, 7, 8, 9, 1, 11, 3];
/// (title, price, markets); one item per test type.
pub(super) const EYE_TEST_LIST: [(&str, f64, u32); 6] = [
    ("Standard eye test", 25.0, 0),
    ("Contact lens consultation", 35.0, 0),
    ("Children's eye test", 0.0, 0),
    ("Eye health check with OCT scan", 45.0, 0),
    ("Driving vision check", 15.0, 0),
    ("Home visit eye test", 0.0, UK | IE),
];
pub(super) const ET_STANDARD: u8 = 0;
pub(super) const ET_CONTACTS: u8 = 1;
pub(super) const ET_CHILD: u8 = 2;
pub(super) const ET_OCT: u8 = 3;
pub(super) const ET_DRIVING: u8 = 4;
pub(super) const ET_HOME: u8 = 5;
