use super::*;

const HEADER: &str = "code,name,name_en,level,parent\n";

fn parse(rows: &str) -> Result<Directory, DirectoryError> {
    Directory::from_csv(format!("{HEADER}{rows}").as_bytes())
}

fn code(raw: &str) -> DeptCode {
    DeptCode::parse(raw).expect("code")
}

#[test]
fn demo_directory_has_eleven_districts_with_streets() {
    let dir = Directory::demo();
    assert_eq!(dir.districts().count(), 11);
    let th = code("GZ-TH");
    let street = dir
        .iter()
        .find(|d| d.parent.as_ref() == Some(&th))
        .expect("Tianhe has streets");
    assert!(dir.is_street_of(&th, &street.code));
    assert!(!dir.is_street_of(&street.code, &th));
}

#[test]
fn the_example_city_has_every_level() {
    let text = include_str!("../../../../deploy/seed/examples/othercity-departments.csv");
    let dir = Directory::from_csv(text.as_bytes()).expect("the example city parses");
    for (level, count) in dir.count_by_level() {
        assert!(count > 0, "no {level} in the example city");
    }
    let community = dir.get(&code("LH-LD-HB-DT")).expect("a community");
    assert_eq!(community.level, DepartmentLevel::Community);
    assert_eq!(community.parent, Some(code("LH-LD-HB")));
    assert!(dir.is_street_of(&code("LH-LD"), &code("LH-LD-HB")));
    assert!(!dir.contains(&code("GZ-TH")));
}

#[test]
fn written_and_read_back_it_is_the_same_directory() {
    for dir in [
        Directory::demo(),
        parse("X-C,\"市局, 一处\",\"Bureau, \"\"One\"\"\",city,\nX-U,水司,,utility,X-C\n")
            .expect("quoted fields"),
    ] {
        let again = Directory::from_csv(dir.to_csv().as_bytes()).expect("reads back");
        assert_eq!(again, dir);
        assert_eq!(again.to_csv(), dir.to_csv());
    }
}

#[test]
fn levels_hang_where_they_may() {
    let ok = parse(
        "C-A,局,,city,\nC-A-1,支队,,city,C-A\nD-A,区,,district,\nS-A,街道,,street,D-A\n\
         M-A,社区,,community,S-A\nU-A,水司,,utility,C-A\nU-B,热力,,utility,D-A\nU-C,电力,,utility,\n",
    )
    .expect("every allowed placement");
    assert_eq!(ok.len(), 8);
    // Level names in any case, name_en left out altogether.
    let dir = Directory::from_csv("code,name,level,parent\nX-A,甲,City,\n".as_bytes())
        .expect("no name_en column");
    assert_eq!(
        dir.get(&code("X-A")).map(|d| d.level),
        Some(DepartmentLevel::City)
    );

    let street_under_city = parse("C-A,局,,city,\nS-A,街道,,street,C-A\n").expect_err("refused");
    assert!(
        matches!(
            &street_under_city,
            DirectoryError::ParentLevel {
                line: 3,
                parent_level: DepartmentLevel::City,
                ..
            }
        ),
        "{street_under_city:?}"
    );
    assert_eq!(
        street_under_city.to_string(),
        "line 3: S-A is a street under C-A, a city; a street may hang under: district"
    );
    let community_under_district =
        parse("D-A,区,,district,\nM-A,社区,,community,D-A\n").expect_err("refused");
    assert!(matches!(
        community_under_district,
        DirectoryError::ParentLevel { line: 3, .. }
    ));
    let orphan = parse("M-A,社区,,community,\n").expect_err("refused");
    assert!(matches!(
        orphan,
        DirectoryError::MissingParent { line: 2, .. }
    ));
    assert!(
        orphan.to_string().contains("needs a parent (street)"),
        "{orphan}"
    );
    let district_under_city = parse("C-A,局,,city,\nD-A,区,,district,C-A\n").expect_err("refused");
    assert!(matches!(
        district_under_city,
        DirectoryError::ParentLevel { line: 3, .. }
    ));
}

#[test]
fn a_parent_not_in_the_file_is_refused_with_its_line() {
    let err = parse("D-A,区,,district,\nS-A,街道,,street,D-B\n").expect_err("refused");
    assert_eq!(
        err,
        DirectoryError::UnknownParent {
            line: 3,
            child: code("S-A"),
            parent: code("D-B"),
        }
    );
    assert_eq!(
        err.to_string(),
        "line 3: S-A names parent D-B, which is not in the directory"
    );
    // A parent later in the file is fine: order does not matter.
    parse("S-A,街道,,street,D-A\nD-A,区,,district,\n").expect("forward reference");
}

#[test]
fn a_duplicate_code_names_both_lines() {
    let err = parse("GZ-A,a,a,city,\nGZ-B,b,b,city,\nGZ-A,c,c,city,\n").expect_err("refused");
    assert_eq!(
        err,
        DirectoryError::Duplicate {
            line: 4,
            code: code("GZ-A"),
            first_line: 2,
        }
    );
}

#[test]
fn circles_of_parents_are_refused() {
    let err = parse("C-A,甲,,city,C-B\nC-B,乙,,city,C-A\n").expect_err("refused");
    assert!(
        matches!(err, DirectoryError::Cycle { line: 2, .. }),
        "{err:?}"
    );
    let own = parse("C-A,甲,,city,C-A\n").expect_err("refused");
    assert!(
        matches!(own, DirectoryError::Cycle { line: 2, .. }),
        "{own:?}"
    );
}

#[test]
fn bad_rows_name_their_line() {
    type Expect = fn(&DirectoryError) -> bool;
    let cases: [(&str, Expect); 6] = [
        ("X-A,a,a,city,\ngz a,a,a,city,\n", |e| {
            matches!(e, DirectoryError::BadCode { line: 3, .. })
        }),
        ("X-A,a,a,town,\n", |e| {
            matches!(e, DirectoryError::BadLevel { line: 2, .. })
        }),
        ("X-A,,a,city,\n", |e| {
            matches!(e, DirectoryError::NoName { line: 2, .. })
        }),
        ("X-A,a,a,city\n", |e| {
            matches!(e, DirectoryError::Csv { line: 2, .. })
        }),
        ("X-A,a,a,city,\nX-B,b,b,city,x y\n", |e| {
            matches!(e, DirectoryError::BadCode { line: 3, .. })
        }),
        ("", |e| matches!(e, DirectoryError::Empty)),
    ];
    for (rows, expected) in cases {
        let err = parse(rows).expect_err(rows);
        assert!(expected(&err), "{rows:?}: {err:?}");
        if let Some(line) = err.line() {
            assert!(
                err.to_string().starts_with(&format!("line {line}: ")),
                "{err}"
            );
        }
    }
    // A quoted field over two lines: the next record's line is still its own.
    let err = parse("X-A,\"a\nb\",a,city,\nX-B,b,b,nowhere,\n").expect_err("refused");
    assert!(
        matches!(err, DirectoryError::BadLevel { line: 4, .. }),
        "{err:?}"
    );
    let header = Directory::from_csv("code,name,level\nX-A,a,city\n".as_bytes())
        .expect_err("no parent column");
    assert_eq!(header, DirectoryError::Header { missing: "parent" });
}

#[test]
fn a_byte_order_mark_from_a_spreadsheet_is_no_problem() {
    let text = format!("\u{feff}{HEADER}X-A,甲,,city,\n");
    let dir = Directory::from_csv(text.as_bytes()).expect("BOM skipped");
    assert!(dir.contains(&code("X-A")));
}
