//! Customer generation: each customer's region, demographics and latent
//! tastes (the hidden [`Profile`] that events are drawn from).

use super::catalog::Meta;
use super::rand::Rand;
use super::vocab::{
    ACCESSORIES, AGE_BANDS, BRANDS, COATING, CONTACTS, ET_CHILD, ET_CONTACTS, ET_DRIVING, ET_HOME,
    ET_OCT, ET_STANDARD, EYE_TESTS, FLAT12, FLAT8, LENSES, NA_BRAND, REGION_PARAMS, SOLUTIONS,
};
use super::world::World;
use super::Customer;
use super::DemoConfig;
use super::REGIONS;
use crate::data::Channel;

/// A customer's latent tastes and needs (never exported).
pub(super) struct Profile {
    pub(super) region: usize,
    pub(super) channel: u8,
    pub(super) shape_w: [f64; 9],
    pub(super) mat_w: [f64; 6],
    pub(super) colour_w: [f64; 13],
    pub(super) band_w: [f64; 5],
    pub(super) gender_w: [f64; 5],
    pub(super) brand_w: [f64; BRANDS.len() + 1],
    pub(super) sun_affinity: f64,
    pub(super) has_kids: bool,
    pub(super) age: usize,
    pub(super) contact_lens: Option<u32>,
    pub(super) solution: Option<u32>,
    pub(super) lens: Option<u32>,
    pub(super) kids_lens: Option<u32>,
    pub(super) coating: Option<u32>,
    pub(super) case: Option<u32>,
    pub(super) cloth: Option<u32>,
    pub(super) eye_test: Option<u32>,
    pub(super) kids_eye_test: Option<u32>,
    pub(super) activity: f64,
}

/// Draws `k` distinct indices by weight and multiplies their slots in
/// `table` by `boosts`.
fn boost_top(rng: &mut Rand, prior: &[f64], table: &mut [f64], boosts: &[f64]) {
    let mut w = prior.to_vec();
    for &f in boosts {
        if let Some(k) = rng.weighted(&w) {
            table[k] *= f;
            w[k] = 0.0;
        }
    }
}

/// Style personas correlate a customer's tastes across attributes (a
/// minimal-titanium customer also likes silver and Lindberg), which is
/// what makes items co-occur in clusters.
struct Persona {
    pub(super) shapes: &'static [usize],
    pub(super) materials: &'static [usize],
    pub(super) colours: &'static [usize],
    pub(super) brands: &'static [usize],
}

#[rustfmt::skip]
const PERSONAS: [Persona; 6] = [
    // classic
    Persona { shapes: &[1, 2, 5], materials: &[0], colours: &[0, 1, 10], brands: &[0, 5, 9, 16] },
    // fashion / luxury
    Persona { shapes: &[3, 6, 7], materials: &[0, 4], colours: &[7, 9, 6, 1], brands: &[2, 3, 4, 6] },
    // minimal
    Persona { shapes: &[0, 6, 2], materials: &[2, 1], colours: &[3, 4, 11], brands: &[7, 8, 6] },
    // sporty
    Persona { shapes: &[4, 2, 7], materials: &[3, 1], colours: &[0, 5, 11, 4], brands: &[1, 12, 14, 15] },
    // trend / value
    Persona { shapes: &[0, 7, 3], materials: &[3, 0], colours: &[8, 6, 5, 7], brands: &[16, 11, 10, 13, 15] },
    // retro
    Persona { shapes: &[0, 5, 4], materials: &[1, 4], colours: &[2, 1, 10], brands: &[0, 5, 6, 12] },
];

/// Persona prior of a region (classic, fashion, minimal, sporty, trend, retro).
fn persona_prior(region: usize) -> [f64; 6] {
    match REGIONS[region].0 {
        "uk-london" => [1.0, 2.0, 1.0, 0.7, 1.2, 1.0],
        "uk-north-west" => [1.0, 0.7, 0.6, 2.2, 1.0, 1.0],
        "nl" => [0.8, 1.0, 1.0, 0.8, 1.8, 1.2],
        "se" | "no" | "dk" | "fi" => [0.8, 0.8, 2.5, 1.0, 1.0, 0.8],
        "au" | "nz" => [0.8, 0.8, 0.7, 2.0, 1.2, 1.0],
        _ => [1.2, 1.0, 0.8, 1.0, 1.0, 1.0],
    }
}

fn persona_boost(prior: &mut [f64], favourites: &[usize], f: f64) {
    for &k in favourites {
        if let Some(w) = prior.get_mut(k) {
            *w *= f;
        }
    }
}

pub(super) fn build_customers(cfg: &DemoConfig, world: &World) -> (Vec<Customer>, Vec<Profile>) {
    let mut rng = Rand::new(cfg.seed, 2, 0);
    let region_w: Vec<f64> = REGION_PARAMS.iter().map(|r| r.weight).collect();
    let mut customers = Vec::with_capacity(cfg.customers);
    let mut profiles = Vec::with_capacity(cfg.customers);
    for c in 0..cfg.customers {
        let region = rng.weighted(&region_w).unwrap_or(0);
        let rp = &REGION_PARAMS[region];
        let gender = rng.weighted(&[0.52, 0.46, 0.02]).unwrap_or(2);
        let age = rng
            .weighted(&[10.0, 18.0, 19.0, 20.0, 18.0, 15.0])
            .unwrap_or(2);
        let channel = rng.weighted(&rp.channels[..3]).unwrap_or(0) as u8;
        let persona = &PERSONAS[rng.weighted(&persona_prior(region)).unwrap_or(0)];
        const PB: f64 = 15.0;

        let mut shape_w = [1.0; 9];
        let shape_prior: [f64; 8] = match gender {
            0 => [1.3, 0.7, 0.6, 1.8, 0.5, 0.4, 1.3, 1.0],
            1 => [1.0, 1.5, 1.6, 0.05, 1.2, 1.1, 0.6, 0.7],
            _ => FLAT8,
        };
        let mut prior: Vec<f64> = shape_prior
            .iter()
            .zip(rp.shapes)
            .map(|(a, b)| a * b)
            .collect();
        persona_boost(&mut prior, persona.shapes, PB);
        boost_top(&mut rng, &prior, &mut shape_w, &[16.0, 4.0]);

        let mut mat_w = [1.0; 6];
        let mut prior: Vec<f64> = [1.6, 1.3, if age >= 3 { 0.9 } else { 0.6 }, 0.8, 0.5]
            .iter()
            .zip(rp.materials)
            .map(|(a, b)| a * b)
            .collect();
        persona_boost(&mut prior, persona.materials, PB);
        let second = if rng.chance(0.5) { 2.0 } else { 1.0 };
        boost_top(&mut rng, &prior, &mut mat_w, &[5.0, second]);

        let band_prior = match age {
            0 | 1 => [0.35, 0.40, 0.18, 0.07],
            2..=4 => [0.18, 0.38, 0.29, 0.15],
            _ => [0.22, 0.40, 0.28, 0.10],
        };
        let prior: Vec<f64> = band_prior
            .iter()
            .zip(rp.bands)
            .map(|(a, b)| a * b)
            .collect();
        let band = rng.weighted(&prior).unwrap_or(1);
        let mut band_w = [1.0; 5];
        for (k, w) in band_w.iter_mut().take(4).enumerate() {
            *w = match k.abs_diff(band) {
                0 => 6.0,
                1 => 2.0,
                _ => 0.35,
            };
        }

        let mut brand_w = [1.0; BRANDS.len() + 1];
        let mut prior: Vec<f64> = BRANDS
            .iter()
            .enumerate()
            .map(|(i, br)| {
                if br.markets != 0 && br.markets & (1 << region) == 0 {
                    return 0.0;
                }
                let fit = if (br.bands.0 as usize..=br.bands.1 as usize).contains(&band) {
                    1.0
                } else if band + 1 >= br.bands.0 as usize && band <= br.bands.1 as usize + 1 {
                    0.3
                } else {
                    0.05
                };
                let bias = rp
                    .brands
                    .iter()
                    .find(|(b, _)| *b == i)
                    .map_or(1.0, |&(_, f)| f);
                br.weight.sqrt() * fit * bias * bias
            })
            .collect();
        persona_boost(&mut prior, persona.brands, PB);
        boost_top(&mut rng, &prior, &mut brand_w, &[30.0, 6.0, 2.0]);

        let mut colour_w = [1.0; 13];
        let colour_prior: [f64; 12] = match gender {
            0 => [1.0, 1.4, 1.2, 0.8, 0.6, 0.8, 1.0, 1.4, 0.9, 1.6, 1.2, 0.7],
            1 => [1.6, 1.2, 0.8, 1.0, 1.3, 1.2, 0.7, 0.4, 0.8, 0.2, 1.0, 1.2],
            _ => FLAT12,
        };
        let mut prior: Vec<f64> = colour_prior
            .iter()
            .zip(rp.colours)
            .map(|(a, b)| a * b)
            .collect();
        persona_boost(&mut prior, persona.colours, PB);
        boost_top(&mut rng, &prior, &mut colour_w, &[3.0, 2.0]);

        let gender_w = match gender {
            0 => [1.0, 0.05, 0.7, 0.0, 1.0],
            1 => [0.04, 1.0, 0.8, 0.0, 1.0],
            _ => [0.5, 0.5, 1.0, 0.0, 1.0],
        };
        let sun_affinity = 0.3 + 1.4 * rng.f64();
        let has_kids = (1..=3).contains(&age) && rng.chance(0.35);

        // Needs: contact lenses, prescription lenses, coating, case, eye test.
        let wears_contacts = rng.chance(if age <= 2 { 0.30 } else { 0.18 });
        let cl_type = if age >= 3 {
            rng.weighted(&[0.2, 0.15, 0.15, 0.5])
        } else {
            rng.weighted(&[0.55, 0.25, 0.2, 0.0])
        }
        .unwrap_or(0) as u8;
        let contact_lens = if wears_contacts {
            world.pick(&mut rng, CONTACTS, region, |m| {
                m.pop
                    * if m.sub == cl_type { 20.0 } else { 0.2 }
                    * if m.band == 0 && band == 0 { 3.0 } else { 1.0 }
            })
        } else {
            None
        };
        let solution = match contact_lens {
            Some(cl) if world.metas[cl as usize].needs_solution => {
                let own = band == 0;
                world.pick(&mut rng, SOLUTIONS, region, |m| {
                    m.pop * if own { 2.0 } else { 1.0 }
                })
            }
            _ => None,
        };
        let lens_type = match age {
            0..=1 => 0,
            2 => rng.weighted(&[0.9, 0.0, 0.1]).unwrap_or(0),
            3 => rng.weighted(&[0.2, 0.55, 0.25]).unwrap_or(0),
            4 => rng.weighted(&[0.1, 0.7, 0.2]).unwrap_or(1),
            _ => rng.weighted(&[0.1, 0.75, 0.15]).unwrap_or(1),
        } as u8;
        let index = (rng.weighted(&[0.5, 0.3, 0.15, 0.05]).unwrap_or(0)
            + usize::from(band >= 2 && rng.chance(0.4)))
        .min(3) as u8;
        let lens_score = |m: &Meta, t: u8, ix: u8| {
            (if m.sub == t { 30.0 } else { 0.1 })
                * (if m.index == ix { 8.0 } else { 0.3 })
                * (if usize::from(m.band) == band {
                    4.0
                } else {
                    1.0
                })
        };
        let lens = world.pick(&mut rng, LENSES, region, |m| {
            lens_score(m, lens_type, index)
        });
        let kids_lens = if has_kids {
            world.pick(&mut rng, LENSES, region, |m| lens_score(m, 0, 0))
        } else {
            None
        };
        let coating_type = rng
            .weighted(&[
                0.45,
                if age <= 1 { 0.4 } else { 0.2 },
                (if age >= 3 { 0.25 } else { 0.1 }) * rp.photochromic,
                0.12,
            ])
            .unwrap_or(0) as u8;
        let coating = world.pick(&mut rng, COATING, region, |m| {
            (if m.sub == coating_type { 30.0 } else { 0.2 })
                * if usize::from(m.band) == band {
                    3.0
                } else {
                    1.0
                }
        });
        let case = world.pick(&mut rng, ACCESSORIES, region, |m| {
            if m.sub == 0 && m.brand == NA_BRAND {
                m.pop * colour_w[m.colour as usize]
            } else {
                0.0
            }
        });
        let cloth = world.pick(&mut rng, ACCESSORIES, region, |m| {
            if m.sub == 1 {
                m.pop * colour_w[m.colour as usize]
            } else {
                0.0
            }
        });
        let mut test_w = [0.0; 6];
        test_w[ET_STANDARD as usize] = 1.0;
        test_w[ET_DRIVING as usize] = 0.06;
        if wears_contacts {
            test_w[ET_CONTACTS as usize] = 1.2;
        }
        if age >= 3 {
            test_w[ET_OCT as usize] = 0.5;
        }
        if age >= 5 {
            test_w[ET_HOME as usize] = 0.3;
        }
        let eye_test = world.pick(&mut rng, EYE_TESTS, region, |m| test_w[m.sub as usize]);
        let kids_eye_test = world.pick(&mut rng, EYE_TESTS, region, |m| {
            if m.sub == ET_CHILD {
                1.0
            } else {
                0.0
            }
        });

        // Heavy-tailed activity: Pareto with shape 4/3 (u^-3/4 via two
        // square roots), truncated so no single customer dominates.
        let u = 1.0 - rng.f64();
        let activity = (1.0 / (u.sqrt() * u.sqrt().sqrt())).min(60.0);

        let (code, country, _) = REGIONS[region];
        customers.push(Customer {
            id: format!("C{:06}", c + 1),
            region: code.to_owned(),
            country: country.to_owned(),
            channel: Channel::ALL[channel as usize],
            gender: ["female", "male", "unspecified"][gender].to_owned(),
            age_band: AGE_BANDS[age].to_owned(),
        });
        profiles.push(Profile {
            region,
            channel,
            shape_w,
            mat_w,
            colour_w,
            band_w,
            gender_w,
            brand_w,
            sun_affinity,
            has_kids,
            age,
            contact_lens,
            solution,
            lens,
            kids_lens,
            coating,
            case,
            cloth,
            eye_test,
            kids_eye_test,
            activity,
        });
    }
    (customers, profiles)
}
