//! Which district an address is in (属地).
//!
//! First the address text: a district's Chinese or English name in it is taken as certain.
//! Then coordinates: the nearest district centre within `MAX_KM`. The demo gazetteer holds the
//! eleven districts' approximate centres; a city replaces it with its own boundaries. Every
//! other district of the directory (another city's, loaded with `hotline setup --directory`)
//! is known by name only: its Chinese name without the office's suffix (`澜东区人民政府` →
//! `澜东区`, `澜东`) and its English name.

use hotline_domain::contract::Location;
use hotline_domain::{DeptCode, Directory};

const MAX_KM: f64 = 20.0;

/// (department code, Chinese short name, latitude, longitude) of the demo city's districts.
const DEMO_CENTRES: &[(&str, &str, f64, f64)] = &[
    ("GZ-YX", "越秀", 23.129, 113.267),
    ("GZ-HZ", "海珠", 23.084, 113.317),
    ("GZ-LW", "荔湾", 23.126, 113.244),
    ("GZ-TH", "天河", 23.125, 113.361),
    ("GZ-BY", "白云", 23.250, 113.270),
    ("GZ-HP", "黄埔", 23.181, 113.459),
    ("GZ-PY", "番禺", 22.938, 113.384),
    ("GZ-HD", "花都", 23.404, 113.220),
    ("GZ-NS", "南沙", 22.801, 113.525),
    ("GZ-CH", "从化", 23.548, 113.587),
    ("GZ-ZC", "增城", 23.261, 113.811),
];

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The address names the district.
    ByName(DeptCode),
    /// The coordinates are nearest this district's centre (`km` away).
    ByPosition(DeptCode, f64),
}

impl Found {
    pub fn district(&self) -> &DeptCode {
        match self {
            Found::ByName(d) | Found::ByPosition(d, _) => d,
        }
    }
}

/// A district's code, the names an address may call it by, and its centre when known.
type District = (DeptCode, Vec<String>, Option<(f64, f64)>);

#[derive(Debug, Clone)]
pub struct Gazetteer {
    districts: Vec<District>,
}

/// What a district government's name ends with besides the place (人民政府, 管委会).
const OFFICE_SUFFIXES: [&str; 3] = ["人民政府", "管理委员会", "管委会"];

/// The names an address may use for a district of the directory that has no demo centre.
fn names_of(dept: &hotline_domain::Department) -> Vec<String> {
    let mut place = dept.name.as_str();
    for suffix in OFFICE_SUFFIXES {
        place = place.strip_suffix(suffix).unwrap_or(place);
    }
    let mut names = vec![place.to_owned()];
    // "澜东区" is often written "澜东"; "海湾新区" is not "海湾新".
    if let Some(short) = place.strip_suffix(['区', '县'])
        && short.chars().count() >= 2
        && !place.ends_with("新区")
    {
        names.push(short.to_owned());
    }
    names.push(
        dept.name_en
            .trim_end_matches(" District")
            .trim_end_matches(" County")
            .to_owned(),
    );
    // An empty name would be found in every address.
    names.retain(|n| !n.trim().is_empty());
    names
}

impl Gazetteer {
    /// The demo city's district centres, plus every other district of `directory` by name.
    pub fn demo(directory: &Directory) -> Gazetteer {
        let mut districts: Vec<District> = DEMO_CENTRES
            .iter()
            .filter_map(|(code, short, lat, long)| {
                let code = DeptCode::parse(code).ok()?;
                let dept = directory.get(&code)?;
                let english = dept.name_en.trim_end_matches(" District").to_owned();
                let mut names = vec![format!("{short}区"), short.to_string(), english];
                names.retain(|n| !n.trim().is_empty());
                Some((code, names, Some((*lat, *long))))
            })
            .collect();
        for dept in directory.districts() {
            if !districts.iter().any(|(code, _, _)| code == &dept.code) {
                districts.push((dept.code.clone(), names_of(dept), None));
            }
        }
        Gazetteer { districts }
    }

    pub fn locate(&self, location: &Location) -> Option<Found> {
        if let Some(address) = &location.address {
            let lower = address.to_lowercase();
            // The longest matching name wins ("天河区" before "天河").
            let mut best: Option<(&DeptCode, usize)> = None;
            for (code, names, _) in &self.districts {
                for name in names {
                    if lower.contains(&name.to_lowercase())
                        && best.is_none_or(|(_, len)| name.len() > len)
                    {
                        best = Some((code, name.len()));
                    }
                }
            }
            if let Some((code, _)) = best {
                return Some(Found::ByName(code.clone()));
            }
        }
        let (lat, long) = (location.lat?, location.long?);
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&long) {
            return None;
        }
        self.districts
            .iter()
            .filter_map(|(code, _, centre)| {
                centre.map(|(clat, clong)| (code, km(lat, long, clat, clong)))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, d)| *d <= MAX_KM)
            .map(|(code, d)| Found::ByPosition(code.clone(), d))
    }
}

/// Great-circle distance.
fn km(lat1: f64, long1: f64, lat2: f64, long2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (long2 - long1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().atan2((1.0 - a).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(address: Option<&str>, lat: Option<f64>, long: Option<f64>) -> Location {
        Location {
            address: address.map(str::to_owned),
            address_id: None,
            lat,
            long,
        }
    }

    #[test]
    fn names_beat_coordinates_and_far_points_are_nowhere() {
        let g = Gazetteer::demo(&Directory::demo());
        let th = DeptCode::parse("GZ-TH").expect("code");
        assert_eq!(
            g.locate(&at(Some("广州市天河区天河路208号"), None, None)),
            Some(Found::ByName(th.clone()))
        );
        assert_eq!(
            g.locate(&at(
                Some("208 Tianhe Road, Tianhe"),
                Some(22.8),
                Some(113.5)
            )),
            Some(Found::ByName(th.clone()))
        );
        assert!(
            matches!(g.locate(&at(None, Some(23.126), Some(113.36))), Some(Found::ByPosition(d, _)) if d == th)
        );
        assert_eq!(
            g.locate(&at(Some("somewhere"), Some(39.9), Some(116.4))),
            None,
            "Beijing is not in the city"
        );
        assert_eq!(g.locate(&at(None, Some(f64::NAN), Some(113.0))), None);
        assert_eq!(g.locate(&at(None, None, None)), None);
    }

    #[test]
    fn another_citys_districts_are_found_by_name() {
        let lanhai = Directory::from_csv(
            include_str!("../../../deploy/seed/examples/othercity-departments.csv").as_bytes(),
        )
        .expect("directory");
        let g = Gazetteer::demo(&lanhai);
        let code = |c: &str| DeptCode::parse(c).expect("code");
        for (address, district) in [
            ("澜海市澜东区海滨路8号", "LH-LD"),
            ("澜西青石路3号", "LH-LX"),
            ("12 Harbour Road, Lanxi", "LH-LX"),
            ("海湾新区港口大道1号", "LH-HW"),
        ] {
            assert_eq!(
                g.locate(&at(Some(address), None, None)),
                Some(Found::ByName(code(district))),
                "{address}"
            );
        }
        // No centres: coordinates alone find nothing, and Guangzhou's names are not Lanhai's.
        assert_eq!(g.locate(&at(None, Some(23.126), Some(113.36))), None);
        assert_eq!(
            g.locate(&at(Some("广州市天河区天河路208号"), None, None)),
            None
        );
    }
}
