//! Product generation: the demo catalog and the hidden per-product
//! metadata ([`Meta`]) that customer tastes and sessions are drawn against.

use super::rand::Rand;
use super::vocab::{
    ACCESSORIES, ACC_COLOURS, ACC_TYPES, ALL_REGIONS, BANDS, BRANDS, CL_LINES, CL_TYPES, COATING,
    COATINGS, COATING_LINES, COLOURS, CONTACTS, EYE_TESTS, EYE_TEST_LIST, FRAMES, GENDERS,
    ID_PREFIX, KIDS, LENSES, LENS_INDEX, LENS_LINES, LENS_TYPES, MARKETS, MATERIALS,
    MATERIAL_TITLE, MAUI_JIM, MODEL_NAMES, NA_BAND, NA_BRAND, NA_COLOUR, NA_GENDER, NA_MAT,
    NA_SHAPE, OAKLEY, OWN_ACCESSORIES, RAY_BAN, SHAPES, SIGHTLINE_KIDS, SOLUTIONS, SOLUTIONS_LIST,
    SUNGLASSES,
};
use super::DemoConfig;
use super::CATEGORIES;
use super::REGIONS;
use crate::data::AttrValue;
use crate::data::Catalog;
use crate::data::Item;
use crate::error::Result;
use std::collections::BTreeMap;

/// Generator-side facts about a product (parallel to the catalog).
#[derive(Clone)]
pub(super) struct Meta {
    pub(super) cat: u8,
    pub(super) shape: u8,
    pub(super) material: u8,
    pub(super) colour: u8,
    pub(super) brand: u8,
    pub(super) band: u8,
    pub(super) gender: u8,
    /// Lens type, coating type, CL type, accessory type or eye-test type.
    pub(super) sub: u8,
    /// Lens index slot (lenses only).
    pub(super) index: u8,
    pub(super) polarised: bool,
    pub(super) in_stock: bool,
    /// Bitmask over REGIONS where it is sold.
    pub(super) markets: u32,
    /// Global popularity multiplier (long-tailed).
    pub(super) pop: f64,
    /// Contact lenses: days a pack lasts, and whether it needs solution.
    pub(super) pack_days: u32,
    pub(super) needs_solution: bool,
}

impl Meta {
    pub(super) fn new(cat: u8) -> Self {
        Meta {
            cat,
            shape: NA_SHAPE,
            material: NA_MAT,
            colour: NA_COLOUR,
            brand: NA_BRAND,
            band: NA_BAND,
            gender: NA_GENDER,
            sub: 0,
            index: 0,
            polarised: false,
            in_stock: true,
            markets: ALL_REGIONS,
            pop: 1.0,
            pack_days: 0,
            needs_solution: false,
        }
    }
}

fn band_of_price(p: f64, cuts: [f64; 3]) -> u8 {
    cuts.iter().filter(|&&c| p >= c).count() as u8
}

/// A retail price like 129.00 or 89.00 in `lo..hi`.
fn shelf_price(rng: &mut Rand, lo: f64, hi: f64) -> f64 {
    let p = lo + rng.f64() * (hi - lo);
    (p / 10.0).floor() * 10.0 + 9.0
}

fn text(s: &str) -> AttrValue {
    AttrValue::Text(s.to_owned())
}

fn market_regions(mask: u32) -> Vec<String> {
    if mask == ALL_REGIONS {
        return Vec::new();
    }
    REGIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, r)| r.0.to_owned())
        .collect()
}

struct CatalogBuilder {
    pub(super) catalog: Catalog,
    pub(super) metas: Vec<Meta>,
    counters: [usize; 8],
}

impl CatalogBuilder {
    pub(super) fn push(
        &mut self,
        meta: Meta,
        title: String,
        brand: &str,
        price: f64,
        attributes: BTreeMap<String, AttrValue>,
    ) -> Result<()> {
        let c = meta.cat as usize;
        self.counters[c] += 1;
        let item = Item {
            id: format!("{}-{:05}", ID_PREFIX[c], self.counters[c]),
            title,
            category: CATEGORIES[c].to_owned(),
            brand: Some(brand.to_owned()),
            price: Some(price),
            in_stock: meta.in_stock,
            regions: market_regions(meta.markets),
            attributes,
        };
        self.catalog.add(item)?;
        self.metas.push(meta);
        Ok(())
    }
}

fn clamp_count(n: usize, per_mille: usize, lo: usize, hi: usize) -> usize {
    ((n * per_mille + 500) / 1000).clamp(lo, hi)
}

pub(super) fn build_catalog(cfg: &DemoConfig) -> Result<(Catalog, Vec<Meta>)> {
    let mut rng = Rand::new(cfg.seed, 1, 0);
    let n = cfg.products;
    let cl_combos: Vec<(usize, usize)> = {
        // First pack of every line, then the second packs: small catalogs
        // still cover every line and type.
        let mut v = Vec::new();
        for p in 0..2 {
            for (l, line) in CL_LINES.iter().enumerate() {
                if p < line.4.len() {
                    v.push((l, p));
                }
            }
        }
        v
    };
    let acc_total =
        OWN_ACCESSORIES.len() + BRANDS.iter().filter(|b| b.case).count() + 4 * ACC_COLOURS.len();
    let n_et = EYE_TEST_LIST.len();
    let n_ln = clamp_count(n, 50, 3, 48);
    let n_ct = clamp_count(n, 15, 4, 16);
    let n_cl = clamp_count(n, 60, 4, cl_combos.len());
    let n_cs = clamp_count(n, 15, 2, SOLUTIONS_LIST.len());
    let n_ac = clamp_count(n, 60, 3, acc_total);
    let rest = n - (n_et + n_ln + n_ct + n_cl + n_cs + n_ac);
    let n_fr = (rest * 6 + 5) / 10;
    let n_sg = rest - n_fr;

    let mut b = CatalogBuilder {
        catalog: Catalog::new(),
        metas: Vec::with_capacity(n),
        counters: [0; 8],
    };
    for k in 0..n_fr + n_sg {
        let sun = k >= n_fr;
        spectacle(&mut b, &mut rng, sun)?;
    }
    for k in 0..n_ln {
        let (t, ix, line) = (k % 3, (k / 3) % 4, k / 12);
        let (brand, names, band) = LENS_LINES[line];
        let mut m = Meta::new(LENSES);
        m.sub = t as u8;
        m.index = ix as u8;
        m.band = band;
        let base: f64 = [59.0, 169.0, 49.0][t];
        let price = (base * [1.0, 1.3, 1.7, 2.3][ix] * [0.7, 1.0, 1.4, 1.8][line]).round();
        let title = format!(
            "{} {} lenses, {} index",
            names[t],
            LENS_TYPES[t].replace('_', " "),
            LENS_INDEX[ix]
        );
        let attrs = BTreeMap::from([
            ("lens_type".to_owned(), text(LENS_TYPES[t])),
            ("index".to_owned(), AttrValue::Number(LENS_INDEX[ix])),
            ("price_band".to_owned(), text(BANDS[band as usize])),
        ]);
        b.push(m, title, brand, price, attrs)?;
    }
    for k in 0..n_ct {
        let (t, line) = (k % 4, k / 4);
        let (brand, names, band) = COATING_LINES[line];
        let mut m = Meta::new(COATING);
        m.sub = t as u8;
        m.band = band;
        let price = ([25.0f64, 30.0, 60.0, 15.0][t] * [0.7, 1.3, 1.6, 1.0][line]).round();
        let brand = if t == 2 && line == 1 {
            "Transitions"
        } else {
            brand
        };
        let attrs = BTreeMap::from([
            ("coating".to_owned(), text(COATINGS[t])),
            ("price_band".to_owned(), text(BANDS[band as usize])),
        ]);
        b.push(m, format!("{} coating", names[t]), brand, price, attrs)?;
    }
    for &(l, p) in cl_combos.iter().take(n_cl) {
        let (brand, line, t, daily, packs, base) = CL_LINES[l];
        let (units, days) = packs[p];
        let mut m = Meta::new(CONTACTS);
        m.sub = t;
        m.pack_days = days;
        m.needs_solution = !daily;
        m.in_stock = !rng.chance(0.055);
        let price = (base * if p == 0 { 1.0 } else { 2.7 }).round() - 0.01;
        m.band = if brand == "Sightline" {
            0
        } else {
            band_of_price(base, [20.0, 30.0, 42.0])
        };
        let attrs = BTreeMap::from([
            ("lens_type".to_owned(), text(CL_TYPES[t as usize])),
            (
                "replacement".to_owned(),
                text(if daily { "daily" } else { "monthly" }),
            ),
            ("pack_size".to_owned(), AttrValue::Number(f64::from(units))),
            ("price_band".to_owned(), text(BANDS[m.band as usize])),
        ]);
        b.push(m, format!("{line} – {units} pack"), brand, price, attrs)?;
    }
    for &(brand, title, kind, ml, price) in SOLUTIONS_LIST.iter().take(n_cs) {
        let mut m = Meta::new(SOLUTIONS);
        m.in_stock = !rng.chance(0.055);
        m.brand = NA_BRAND;
        let attrs = BTreeMap::from([
            ("solution_type".to_owned(), text(kind)),
            ("size_ml".to_owned(), AttrValue::Number(ml)),
        ]);
        b.push(m, title.to_owned(), brand, price, attrs)?;
    }
    accessories(&mut b, &mut rng, n_ac)?;
    for (t, &(title, price, markets)) in EYE_TEST_LIST.iter().enumerate() {
        let mut m = Meta::new(EYE_TESTS);
        m.sub = t as u8;
        if markets != 0 {
            m.markets = markets;
        }
        let slug = [
            "standard",
            "contact_lens",
            "children",
            "eye_health_oct",
            "driving",
            "home_visit",
        ][t];
        let attrs = BTreeMap::from([("test_type".to_owned(), text(slug))]);
        b.push(m, title.to_owned(), "Sightline", price, attrs)?;
    }

    // Long-tailed popularity: 1/(c + u) spans ~25×; a few "hero" products
    // get another boost so the head is clearly visible.
    for m in &mut b.metas {
        m.pop = 1.0 / (0.15 + rng.f64());
        if rng.chance(0.02) {
            m.pop *= 4.0;
        }
    }
    Ok((b.catalog, b.metas))
}

/// One frame or pair of sunglasses.
fn spectacle(b: &mut CatalogBuilder, rng: &mut Rand, sun: bool) -> Result<()> {
    let mut m = Meta::new(if sun { SUNGLASSES } else { FRAMES });
    let kids = rng.chance(0.08);
    let brand = if kids {
        [SIGHTLINE_KIDS, RAY_BAN, OAKLEY][rng.weighted(&[0.55, 0.25, 0.20]).unwrap_or(0)]
    } else {
        let w: Vec<f64> = BRANDS
            .iter()
            .map(|br| {
                if (sun && br.sunglasses) || (!sun && br.frames) {
                    br.weight
                } else {
                    0.0
                }
            })
            .collect();
        rng.weighted(&w).unwrap_or(RAY_BAN)
    };
    let br = &BRANDS[brand];
    m.brand = brand as u8;
    m.gender = if kids {
        KIDS
    } else {
        rng.weighted(&[0.36, 0.32, 0.32]).unwrap_or(2) as u8
    };
    m.band = if kids {
        br.bands.0.min(1)
    } else {
        br.bands.0 + rng.below(u64::from(br.bands.1 - br.bands.0) + 1) as u8
    };
    let shape_prior: [f64; 8] = match m.gender {
        0 => [1.3, 0.7, 0.6, 1.8, 0.6, 0.5, 1.3, 1.0],
        1 => [0.9, 1.5, 1.6, 0.05, 1.3, 1.1, 0.6, 0.7],
        _ => [1.2, 1.2, 1.0, 0.5, 1.0, 0.8, 1.0, 0.9],
    };
    let mut shape_w = shape_prior;
    if sun {
        shape_w[4] *= 2.0; // aviators are a sunglasses staple
    }
    m.shape = rng.weighted(&shape_w).unwrap_or(0) as u8;
    m.material = rng.weighted(&br.materials).unwrap_or(0) as u8;
    let colour_prior: [f64; 12] = match m.material {
        0 => [5.0, 4.0, 0.0, 0.0, 0.0, 1.5, 1.5, 1.5, 1.2, 0.0, 2.0, 1.0],
        1 | 2 => [1.5, 0.0, 4.0, 4.0, 3.0, 0.5, 0.0, 0.2, 0.2, 2.0, 0.0, 1.5],
        3 => [5.0, 0.5, 0.0, 0.0, 1.0, 2.5, 1.0, 0.5, 1.5, 0.0, 0.0, 2.5],
        _ => [3.0, 3.0, 2.0, 1.0, 1.0, 1.0, 0.5, 1.0, 0.5, 1.0, 1.5, 1.0],
    };
    m.colour = rng.weighted(&colour_prior).unwrap_or(0) as u8;
    let mut colours = vec![COLOURS[m.colour as usize].to_owned()];
    if rng.chance(0.3) {
        let c2 = rng.weighted(&colour_prior).unwrap_or(0);
        if c2 != m.colour as usize {
            colours.push(COLOURS[c2].to_owned());
        }
    }
    m.polarised =
        sun && (brand == MAUI_JIM || rng.chance(if brand == OAKLEY { 0.55 } else { 0.35 }));
    m.in_stock = !rng.chance(0.055);
    m.markets = if br.markets != 0 {
        br.markets
    } else if rng.chance(0.05) {
        MARKETS[rng.index(MARKETS.len())]
    } else {
        ALL_REGIONS
    };
    let (lo, hi) = [(35.0, 80.0), (89.0, 150.0), (159.0, 250.0), (259.0, 480.0)][m.band as usize];
    let mut price = shelf_price(rng, lo, hi);
    if sun {
        price += 10.0;
        if m.polarised {
            price += 20.0;
        }
    }
    if kids {
        price = shelf_price(rng, 25.0, 70.0);
    }
    let (prefix, suffix) = match (brand, kids, sun) {
        (RAY_BAN, true, false) => ("RY", ""),
        (RAY_BAN, true, true) => ("RJ", "S"),
        (OAKLEY, true, false) => ("OY", ""),
        (OAKLEY, true, true) => ("OJ", ""),
        (_, _, true) => br.sun,
        _ => br.optical,
    };
    let code = format!("{prefix}{:04}{suffix}", rng.range(1, 9999));
    let names = MODEL_NAMES[m.shape as usize];
    let name = names[rng.index(names.len())];
    let brand_name = if kids && brand != SIGHTLINE_KIDS {
        format!("{} Junior", br.name)
    } else {
        br.name.to_owned()
    };
    let colour_title = COLOURS[m.colour as usize].replace('_', " ");
    let title = format!(
        "{brand_name} {code} {name} – {colour_title} {}",
        MATERIAL_TITLE[m.material as usize]
    );
    let mut attrs = BTreeMap::from([
        ("shape".to_owned(), text(SHAPES[m.shape as usize])),
        ("material".to_owned(), text(MATERIALS[m.material as usize])),
        ("colours".to_owned(), AttrValue::List(colours)),
        ("gender".to_owned(), text(GENDERS[m.gender as usize])),
        ("price_band".to_owned(), text(BANDS[m.band as usize])),
        (
            "lens_width".to_owned(),
            AttrValue::Number(
                rng.range(if kids { 40 } else { 48 }, if kids { 47 } else { 58 }) as f64,
            ),
        ),
        (
            "bridge".to_owned(),
            AttrValue::Number(rng.range(15, 22) as f64),
        ),
    ]);
    if sun {
        attrs.insert(
            "polarised".to_owned(),
            text(if m.polarised { "yes" } else { "no" }),
        );
        let tints = [
            "grey",
            "green",
            "brown",
            "blue_mirror",
            "gold_mirror",
            "rose",
        ];
        attrs.insert(
            "lens_colour".to_owned(),
            text(tints[rng.index(tints.len())]),
        );
        attrs.insert("uv_protection".to_owned(), text("UV400"));
    }
    b.push(m, title, &brand_name, price, attrs)
}

fn accessories(b: &mut CatalogBuilder, rng: &mut Rand, count: usize) -> Result<()> {
    let mut specs: Vec<(u8, String, f64, u8, u8)> = Vec::new(); // (type, name, price, brand, colour)
    for &(t, name, price) in &OWN_ACCESSORIES {
        specs.push((t, format!("Sightline {name}"), price, NA_BRAND, NA_COLOUR));
    }
    for (i, br) in BRANDS.iter().enumerate().filter(|(_, br)| br.case) {
        specs.push((0, format!("{} hard case", br.name), 25.0, i as u8, 0));
    }
    for &c in &ACC_COLOURS {
        for &(t, name, price) in OWN_ACCESSORIES.iter().filter(|a| {
            matches!(
                a.1,
                "hard case" | "soft pouch" | "microfibre cloth" | "glasses chain"
            )
        }) {
            let colour = COLOURS[c as usize].replace('_', " ");
            specs.push((
                t,
                format!("Sightline {name} – {colour}"),
                price + 2.0,
                NA_BRAND,
                c,
            ));
        }
    }
    for (t, title, price, brand, colour) in specs.into_iter().take(count) {
        let mut m = Meta::new(ACCESSORIES);
        m.sub = t;
        m.brand = brand;
        m.colour = colour;
        m.in_stock = !rng.chance(0.055);
        let brand_name = if brand == NA_BRAND {
            "Sightline"
        } else {
            BRANDS[brand as usize].name
        };
        let mut attrs = BTreeMap::from([("type".to_owned(), text(ACC_TYPES[t as usize]))]);
        if colour != NA_COLOUR {
            attrs.insert(
                "colours".to_owned(),
                AttrValue::List(vec![COLOURS[colour as usize].to_owned()]),
            );
        }
        b.push(m, title, brand_name, price - 0.01, attrs)?;
    }
    Ok(())
}
