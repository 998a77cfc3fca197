//! Calendar tests. The expected exception lists below are transcribed by hand from each notice's
//! sentences (quoted in the comments), independently of the block table in `calendar.rs`: each
//! weekday of a holiday block is written out as `holiday`, each named worked weekend day as
//! `workday`.

use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
}

/// Asia/Shanghai wall-clock time as a UTC instant.
fn sh(y: i32, m: u32, day: u32, h: u32, mi: u32) -> DateTime<Utc> {
    to_utc(d(y, m, day).and_hms_opt(h, mi, 0).expect("valid test time"))
}

fn check_year(year: i32, expected: &[&str]) {
    let cal = WorkCalendar::china();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    let got: Vec<String> = cal
        .format_exceptions(year)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(got, want, "exceptions for {year} differ from the notice");
    assert_eq!(cal.exceptions(year).len(), expected.len());
}

#[test]
fn y2020_matches_notice_and_extension() {
    // 国办发明电〔2019〕16号, with 国办发明电〔2020〕1号 extending the Spring Festival to 2 February.
    check_year(
        2020,
        &[
            // 一、元旦：1月1日放假，共1天。
            "2020-01-01 holiday",
            // 二、春节：1月24日至30日放假调休，共7天。1月19日（星期日）、2月1日（星期六）上班。
            // 〔2020〕1号: 延长至2月2日（农历正月初九，星期日），2月3日（星期一）起正常上班。
            // So Saturday 1 February is no longer worked, and 31 January (Friday) is off.
            "2020-01-19 workday",
            "2020-01-24 holiday",
            "2020-01-27 holiday",
            "2020-01-28 holiday",
            "2020-01-29 holiday",
            "2020-01-30 holiday",
            "2020-01-31 holiday",
            // 三、清明节：4月4日至6日放假调休，共3天。
            "2020-04-06 holiday",
            // 四、劳动节：5月1日至5日放假调休，共5天。4月26日（星期日）、5月9日（星期六）上班。
            "2020-04-26 workday",
            "2020-05-01 holiday",
            "2020-05-04 holiday",
            "2020-05-05 holiday",
            "2020-05-09 workday",
            // 五、端午节：6月25日至27日放假调休，共3天。6月28日（星期日）上班。
            "2020-06-25 holiday",
            "2020-06-26 holiday",
            "2020-06-28 workday",
            // 六、国庆节、中秋节：10月1日至8日放假调休，共8天。9月27日（星期日）、10月10日（星期六）上班。
            "2020-09-27 workday",
            "2020-10-01 holiday",
            "2020-10-02 holiday",
            "2020-10-05 holiday",
            "2020-10-06 holiday",
            "2020-10-07 holiday",
            "2020-10-08 holiday",
            "2020-10-10 workday",
        ],
    );
}

#[test]
fn y2021_matches_notice() {
    // 国办发明电〔2020〕27号
    check_year(
        2021,
        &[
            // 一、元旦：2021年1月1日至3日放假，共3天。
            "2021-01-01 holiday",
            // 二、春节：2月11日至17日放假调休，共7天。2月7日（星期日）、2月20日（星期六）上班。
            "2021-02-07 workday",
            "2021-02-11 holiday",
            "2021-02-12 holiday",
            "2021-02-15 holiday",
            "2021-02-16 holiday",
            "2021-02-17 holiday",
            "2021-02-20 workday",
            // 三、清明节：4月3日至5日放假调休，共3天。
            "2021-04-05 holiday",
            // 四、劳动节：5月1日至5日放假调休，共5天。4月25日（星期日）、5月8日（星期六）上班。
            "2021-04-25 workday",
            "2021-05-03 holiday",
            "2021-05-04 holiday",
            "2021-05-05 holiday",
            "2021-05-08 workday",
            // 五、端午节：6月12日至14日放假，共3天。
            "2021-06-14 holiday",
            // 六、中秋节：9月19日至21日放假调休，共3天。9月18日（星期六）上班。
            "2021-09-18 workday",
            "2021-09-20 holiday",
            "2021-09-21 holiday",
            // 七、国庆节：10月1日至7日放假调休，共7天。9月26日（星期日）、10月9日（星期六）上班。
            "2021-09-26 workday",
            "2021-10-01 holiday",
            "2021-10-04 holiday",
            "2021-10-05 holiday",
            "2021-10-06 holiday",
            "2021-10-07 holiday",
            "2021-10-09 workday",
        ],
    );
}

#[test]
fn y2022_matches_notice() {
    // 国办发明电〔2021〕11号
    check_year(
        2022,
        &[
            // 一、元旦：2022年1月1日至3日放假，共3天。
            "2022-01-03 holiday",
            // 二、春节：1月31日至2月6日放假调休，共7天。1月29日（星期六）、1月30日（星期日）上班。
            "2022-01-29 workday",
            "2022-01-30 workday",
            "2022-01-31 holiday",
            "2022-02-01 holiday",
            "2022-02-02 holiday",
            "2022-02-03 holiday",
            "2022-02-04 holiday",
            // 三、清明节：4月3日至5日放假调休，共3天。4月2日（星期六）上班。
            "2022-04-02 workday",
            "2022-04-04 holiday",
            "2022-04-05 holiday",
            // 四、劳动节：4月30日至5月4日放假调休，共5天。4月24日（星期日）、5月7日（星期六）上班。
            "2022-04-24 workday",
            "2022-05-02 holiday",
            "2022-05-03 holiday",
            "2022-05-04 holiday",
            "2022-05-07 workday",
            // 五、端午节：6月3日至5日放假，共3天。
            "2022-06-03 holiday",
            // 六、中秋节：9月10日至12日放假，共3天。
            "2022-09-12 holiday",
            // 七、国庆节：10月1日至7日放假调休，共7天。10月8日（星期六）、10月9日（星期日）上班。
            "2022-10-03 holiday",
            "2022-10-04 holiday",
            "2022-10-05 holiday",
            "2022-10-06 holiday",
            "2022-10-07 holiday",
            "2022-10-08 workday",
            "2022-10-09 workday",
        ],
    );
}

#[test]
fn y2023_matches_notice() {
    // 国办发明电〔2022〕16号
    check_year(
        2023,
        &[
            // 一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。
            "2023-01-02 holiday",
            // 二、春节：1月21日至27日放假调休，共7天。1月28日（星期六）、1月29日（星期日）上班。
            "2023-01-23 holiday",
            "2023-01-24 holiday",
            "2023-01-25 holiday",
            "2023-01-26 holiday",
            "2023-01-27 holiday",
            "2023-01-28 workday",
            "2023-01-29 workday",
            // 三、清明节：4月5日放假，共1天。
            "2023-04-05 holiday",
            // 四、劳动节：4月29日至5月3日放假调休，共5天。4月23日（星期日）、5月6日（星期六）上班。
            "2023-04-23 workday",
            "2023-05-01 holiday",
            "2023-05-02 holiday",
            "2023-05-03 holiday",
            "2023-05-06 workday",
            // 五、端午节：6月22日至24日放假调休，共3天。6月25日（星期日）上班。
            "2023-06-22 holiday",
            "2023-06-23 holiday",
            "2023-06-25 workday",
            // 六、中秋节、国庆节：9月29日至10月6日放假调休，共8天。10月7日（星期六）、10月8日（星期日）上班。
            "2023-09-29 holiday",
            "2023-10-02 holiday",
            "2023-10-03 holiday",
            "2023-10-04 holiday",
            "2023-10-05 holiday",
            "2023-10-06 holiday",
            "2023-10-07 workday",
            "2023-10-08 workday",
        ],
    );
    // 31 December 2022 is a Saturday inside the block: off anyway, not an exception of 2022.
    assert!(
        !WorkCalendar::china()
            .format_exceptions(2022)
            .contains("2022-12-31")
    );
}

#[test]
fn y2024_matches_notice() {
    // 国办发明电〔2023〕7号
    check_year(
        2024,
        &[
            // 一、元旦：1月1日放假，与周末连休。
            "2024-01-01 holiday",
            // 二、春节：2月10日至17日放假调休，共8天。2月4日（星期日）、2月18日（星期日）上班。
            // 鼓励各单位结合带薪年休假等制度落实，安排职工在除夕（2月9日）休息。 (encouraged only)
            "2024-02-04 workday",
            "2024-02-12 holiday",
            "2024-02-13 holiday",
            "2024-02-14 holiday",
            "2024-02-15 holiday",
            "2024-02-16 holiday",
            "2024-02-18 workday",
            // 三、清明节：4月4日至6日放假调休，共3天。4月7日（星期日）上班。
            "2024-04-04 holiday",
            "2024-04-05 holiday",
            "2024-04-07 workday",
            // 四、劳动节：5月1日至5日放假调休，共5天。4月28日（星期日）、5月11日（星期六）上班。
            "2024-04-28 workday",
            "2024-05-01 holiday",
            "2024-05-02 holiday",
            "2024-05-03 holiday",
            "2024-05-11 workday",
            // 五、端午节：6月10日放假，与周末连休。
            "2024-06-10 holiday",
            // 六、中秋节：9月15日至17日放假调休，共3天。9月14日（星期六）上班。
            "2024-09-14 workday",
            "2024-09-16 holiday",
            "2024-09-17 holiday",
            // 七、国庆节：10月1日至7日放假调休，共7天。9月29日（星期日）、10月12日（星期六）上班。
            "2024-09-29 workday",
            "2024-10-01 holiday",
            "2024-10-02 holiday",
            "2024-10-03 holiday",
            "2024-10-04 holiday",
            "2024-10-07 holiday",
            "2024-10-12 workday",
        ],
    );
    assert!(
        WorkCalendar::china().is_working_day(d(2024, 2, 9)),
        "除夕 2024 is only encouraged off"
    );
}

#[test]
fn y2025_matches_notice() {
    // 国办发明电〔2024〕12号
    check_year(
        2025,
        &[
            // 一、元旦：1月1日（周三）放假1天，不调休。
            "2025-01-01 holiday",
            // 二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。
            //     1月26日（周日）、2月8日（周六）上班。
            "2025-01-26 workday",
            "2025-01-28 holiday",
            "2025-01-29 holiday",
            "2025-01-30 holiday",
            "2025-01-31 holiday",
            "2025-02-03 holiday",
            "2025-02-04 holiday",
            "2025-02-08 workday",
            // 三、清明节：4月4日（周五）至6日（周日）放假，共3天。
            "2025-04-04 holiday",
            // 四、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
            "2025-04-27 workday",
            "2025-05-01 holiday",
            "2025-05-02 holiday",
            "2025-05-05 holiday",
            // 五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。
            "2025-06-02 holiday",
            // 六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。
            //     9月28日（周日）、10月11日（周六）上班。
            "2025-09-28 workday",
            "2025-10-01 holiday",
            "2025-10-02 holiday",
            "2025-10-03 holiday",
            "2025-10-06 holiday",
            "2025-10-07 holiday",
            "2025-10-08 holiday",
            "2025-10-11 workday",
        ],
    );
}

#[test]
fn y2026_matches_notice() {
    // 国办发明电〔2025〕7号
    check_year(
        2026,
        &[
            // 一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
            "2026-01-01 holiday",
            "2026-01-02 holiday",
            "2026-01-04 workday",
            // 二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。
            //     2月14日（周六）、2月28日（周六）上班。
            "2026-02-14 workday",
            "2026-02-16 holiday",
            "2026-02-17 holiday",
            "2026-02-18 holiday",
            "2026-02-19 holiday",
            "2026-02-20 holiday",
            "2026-02-23 holiday",
            "2026-02-28 workday",
            // 三、清明节：4月4日（周六）至6日（周一）放假，共3天。
            "2026-04-06 holiday",
            // 四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
            "2026-05-01 holiday",
            "2026-05-04 holiday",
            "2026-05-05 holiday",
            "2026-05-09 workday",
            // 五、端午节：6月19日（周五）至21日（周日）放假，共3天。
            "2026-06-19 holiday",
            // 六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
            "2026-09-25 holiday",
            // 七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
            "2026-09-20 workday",
            "2026-10-01 holiday",
            "2026-10-02 holiday",
            "2026-10-05 holiday",
            "2026-10-06 holiday",
            "2026-10-07 holiday",
            "2026-10-10 workday",
        ],
    );
}

#[test]
fn every_published_year_is_2020_to_2026_and_nothing_is_guessed() {
    let years: Vec<i32> = STATUTORY.iter().map(|n| n.year).collect();
    assert_eq!(years, (2020..=2026).collect::<Vec<_>>());
    let cal = WorkCalendar::china();
    for year in [2019, 2027, 2028] {
        assert!(
            cal.exceptions(year).is_empty(),
            "{year} has no notice in the table"
        );
        assert_eq!(WorkCalendar::notice(year), None);
    }
    // No guessed Spring Festival 2027: Monday 8 February 2027 is a plain weekday.
    assert!(cal.is_working_day(d(2027, 2, 8)));
    assert!(!cal.is_working_day(d(2027, 2, 6)), "a Saturday");
    assert_eq!(WorkCalendar::notice(2026), Some("国办发明电〔2025〕7号"));
}

#[test]
fn weekday_and_weekend_sanity_over_every_year() {
    let cal = WorkCalendar::china();
    for year in 2020..=2026 {
        for (date, kind) in cal.exceptions(year) {
            match kind {
                DayKind::Holiday => assert!(!is_weekend(date), "{date} holiday on a weekend"),
                DayKind::Workday => assert!(is_weekend(date), "{date} workday on a weekday"),
            }
            assert_eq!(cal.is_working_day(date), kind == DayKind::Workday, "{date}");
        }
    }
}

#[test]
fn the_raw_table_is_consistent() {
    // Catches typos in the table itself, before the calendar filters anything.
    let mut worked_per_year = BTreeMap::new();
    for notice in STATUTORY {
        for block in notice.blocks {
            let first = date(block.first).expect("block start is a date");
            let last = date(block.last).expect("block end is a date");
            assert_eq!(
                (last - first).num_days() + 1,
                i64::from(block.days),
                "{} {}: 共N天",
                notice.year,
                block.name
            );
            assert!(
                first.year() == notice.year
                    || (first.year() == notice.year - 1 && first.month() == 12)
            );
            assert_eq!(last.year(), notice.year, "{} {}", notice.year, block.name);
            for w in block.worked {
                let w = date(*w).expect("worked day is a date");
                assert!(
                    is_weekend(w),
                    "{w} named as worked but is a {}",
                    w.weekday()
                );
                assert!(w < first || w > last, "{w} worked inside its own block");
                *worked_per_year.entry(notice.year).or_insert(0) += 1;
            }
        }
    }
    // Weekend days worked, counted from the notices: 2020 had 7, minus 1 February after the extension.
    let want: BTreeMap<i32, i32> = [
        (2020, 6),
        (2021, 7),
        (2022, 7),
        (2023, 7),
        (2024, 8),
        (2025, 5),
        (2026, 6),
    ]
    .into();
    assert_eq!(worked_per_year, want);
}

#[test]
fn format_is_iso_date_then_kind() {
    let text = WorkCalendar::china().format_exceptions(2026);
    assert!(text.starts_with("2026-01-01 holiday\n2026-01-02 holiday\n2026-01-04 workday\n"));
    assert!(text.ends_with("2026-10-10 workday\n"));
    for line in text.lines() {
        let (date, kind) = line.split_once(' ').expect("two columns");
        assert!(NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok());
        assert!(kind == "holiday" || kind == "workday");
    }
}

// ---- deadlines ----

#[test]
fn working_days_received_during_before_and_after_hours() {
    let cal = WorkCalendar::china();
    let due = sh(2026, 12, 3, 17, 30); // Thursday
    // Monday 30 November 2026: during hours, at lunch, before opening all count Monday as day 0.
    assert_eq!(cal.add_working_days(sh(2026, 11, 30, 10, 0), 3), due);
    assert_eq!(cal.add_working_days(sh(2026, 11, 30, 12, 30), 3), due);
    assert_eq!(cal.add_working_days(sh(2026, 11, 30, 7, 0), 3), due);
    assert_eq!(cal.add_working_days(sh(2026, 11, 30, 17, 29), 3), due);
    // At or after closing: day 0 is Tuesday.
    assert_eq!(
        cal.add_working_days(sh(2026, 11, 30, 17, 30), 3),
        sh(2026, 12, 4, 17, 30)
    );
    assert_eq!(
        cal.add_working_days(sh(2026, 11, 30, 18, 0), 3),
        sh(2026, 12, 4, 17, 30)
    );
    // Saturday: day 0 is Monday.
    assert_eq!(cal.add_working_days(sh(2026, 11, 28, 10, 0), 3), due);
    // n = 0: end of day 0.
    assert_eq!(
        cal.add_working_days(sh(2026, 11, 30, 10, 0), 0),
        sh(2026, 11, 30, 17, 30)
    );
}

#[test]
fn working_days_starting_on_a_holiday() {
    let cal = WorkCalendar::china();
    // National Day 2026: 1-7 October off, Thursday 8 October is day 0.
    assert_eq!(
        cal.add_working_days(sh(2026, 10, 1, 10, 0), 1),
        sh(2026, 10, 9, 17, 30)
    );
    // The second working day is Saturday 10 October, a make-up workday.
    assert_eq!(
        cal.add_working_days(sh(2026, 10, 1, 10, 0), 2),
        sh(2026, 10, 10, 17, 30)
    );
    // Without the calendar it would be Monday 12 October: the make-up day counts.
    assert_eq!(
        cal.add_working_days(sh(2026, 10, 1, 10, 0), 3),
        sh(2026, 10, 12, 17, 30)
    );
}

#[test]
fn working_days_starting_on_a_make_up_workday() {
    let cal = WorkCalendar::china();
    // Saturday 14 February 2026 is worked; the next working day is Tuesday 24 February.
    assert_eq!(
        cal.add_working_days(sh(2026, 2, 14, 10, 0), 1),
        sh(2026, 2, 24, 17, 30)
    );
    // Received on that Saturday after hours: day 0 is 24 February.
    assert_eq!(
        cal.add_working_days(sh(2026, 2, 14, 19, 0), 1),
        sh(2026, 2, 25, 17, 30)
    );
}

#[test]
fn working_days_across_spring_festival() {
    let cal = WorkCalendar::china();
    // Friday 13 Feb 2026 +3: Sat 14 (worked), Tue 24, Wed 25.
    assert_eq!(
        cal.add_working_days(sh(2026, 2, 13, 10, 0), 3),
        sh(2026, 2, 25, 17, 30)
    );
    // A complaint's 13 working days from Tuesday 10 Feb 2026: 11, 12, 13, 14(Sat), 24, 25, 26,
    // 27, 28(Sat), 2 Mar, 3, 4, 5.
    assert_eq!(
        cal.add_working_days(sh(2026, 2, 10, 9, 30), 13),
        sh(2026, 3, 5, 17, 30)
    );
    // 2020, with the extension: Thursday 23 Jan +1 is Monday 3 Feb (1 Feb no longer worked).
    assert_eq!(
        cal.add_working_days(sh(2020, 1, 23, 10, 0), 1),
        sh(2020, 2, 3, 17, 30)
    );
}

#[test]
fn working_days_across_year_ends() {
    let cal = WorkCalendar::china();
    // Wed 31 Dec 2025 +1: 1-2 Jan off, 3 Jan Saturday off, Sunday 4 Jan 2026 worked.
    assert_eq!(
        cal.add_working_days(sh(2025, 12, 31, 16, 0), 1),
        sh(2026, 1, 4, 17, 30)
    );
    assert_eq!(
        cal.add_working_days(sh(2025, 12, 31, 16, 0), 2),
        sh(2026, 1, 5, 17, 30)
    );
    // Fri 30 Dec 2022 +1: 31 Dec - 2 Jan off, Tuesday 3 Jan 2023.
    assert_eq!(
        cal.add_working_days(sh(2022, 12, 30, 10, 0), 1),
        sh(2023, 1, 3, 17, 30)
    );
    // Into 2027, which has no notice yet: 1 January 2027 (Friday) is a plain weekday...
    assert_eq!(
        cal.add_working_days(sh(2026, 12, 31, 10, 0), 1),
        sh(2027, 1, 1, 17, 30)
    );
    // ...until the city adds it.
    let city = WorkCalendar::from_toml(
        "[[days]]\ndate = \"2027-01-01\"\nkind = \"holiday\"\nnote = \"元旦\"\n",
    )
    .expect("valid config");
    assert_eq!(
        city.add_working_days(sh(2026, 12, 31, 10, 0), 1),
        sh(2027, 1, 4, 17, 30)
    );
}

#[test]
fn shanghai_has_no_dst() {
    let cal = WorkCalendar::china();
    // 09:00 Shanghai is 01:00 UTC every day of the year (the US and EU switch on 8 and 29 March).
    for day in d(2026, 1, 1).iter_days().take_while(|x| x.year() == 2026) {
        let t = sh(day.year(), day.month(), day.day(), 9, 0);
        assert_eq!(t.format("%H:%M").to_string(), "01:00", "{day}");
    }
    // Friday 27 March 09:00 to Monday 30 March 12:00 (EU DST starts Sunday 29): 7.5 h + 3 h.
    let got = cal.working_time_between(sh(2026, 3, 27, 9, 0), sh(2026, 3, 30, 12, 0));
    assert_eq!(got, Duration::minutes(630));
    // A deadline computed in UTC terms: 17:30 Shanghai = 09:30 UTC.
    let due = cal.add_working_days(sh(2026, 3, 6, 10, 0), 1);
    assert_eq!(due.format("%Y-%m-%d %H:%M").to_string(), "2026-03-09 09:30");
}

#[test]
fn working_hours_add_and_lunch() {
    let cal = WorkCalendar::china();
    // Monday 30 Nov 2026 16:30 + 2h: 1h to 17:30, 1h on Tuesday from 09:00.
    assert_eq!(
        cal.add_working_hours(sh(2026, 11, 30, 16, 30), 2),
        sh(2026, 12, 1, 10, 0)
    );
    // Exactly to the end of the morning: 12:00, not 13:00.
    assert_eq!(
        cal.add_working_hours(sh(2026, 11, 30, 11, 0), 1),
        sh(2026, 11, 30, 12, 0)
    );
    assert_eq!(
        cal.add_working_hours(sh(2026, 11, 30, 11, 0), 2),
        sh(2026, 11, 30, 14, 0)
    );
    // Received at lunch: the clock starts at 13:00.
    assert_eq!(
        cal.add_working_hours(sh(2026, 11, 30, 12, 15), 1),
        sh(2026, 11, 30, 14, 0)
    );
    // Friday 18 Sep 2026 17:00 + 1h: half an hour Friday, then Sunday 20 September (worked).
    assert_eq!(
        cal.add_working_hours(sh(2026, 9, 18, 17, 0), 1),
        sh(2026, 9, 20, 9, 30)
    );
    // On a holiday: starts Thursday 8 October 09:00.
    assert_eq!(
        cal.add_working_hours(sh(2026, 10, 3, 10, 0), 2),
        sh(2026, 10, 8, 11, 0)
    );
    // A full working day of hours.
    assert_eq!(
        cal.add_working_time(sh(2026, 11, 30, 9, 0), Duration::minutes(450)),
        sh(2026, 11, 30, 17, 30)
    );
}

#[test]
fn clock_start_moves_to_next_period() {
    let cal = WorkCalendar::china();
    assert_eq!(
        cal.clock_start(sh(2026, 11, 30, 10, 0)),
        sh(2026, 11, 30, 10, 0)
    );
    assert_eq!(
        cal.clock_start(sh(2026, 11, 30, 12, 30)),
        sh(2026, 11, 30, 13, 0)
    );
    assert_eq!(
        cal.clock_start(sh(2026, 11, 30, 6, 0)),
        sh(2026, 11, 30, 9, 0)
    );
    assert_eq!(
        cal.clock_start(sh(2026, 11, 28, 10, 0)),
        sh(2026, 11, 30, 9, 0)
    );
    assert_eq!(
        cal.clock_start(sh(2026, 2, 13, 18, 0)),
        sh(2026, 2, 14, 9, 0)
    );
}

#[test]
fn working_time_between_and_round_trip() {
    let cal = WorkCalendar::china();
    assert_eq!(
        cal.working_time_between(sh(2026, 11, 30, 9, 30), sh(2026, 11, 30, 11, 0)),
        Duration::minutes(90)
    );
    assert_eq!(
        cal.working_time_between(sh(2026, 11, 30, 11, 0), sh(2026, 11, 30, 14, 0)),
        Duration::minutes(120)
    );
    assert_eq!(
        cal.working_time_between(sh(2026, 11, 30, 14, 0), sh(2026, 11, 30, 11, 0)),
        Duration::zero()
    );
    // Across the whole 2026 Spring Festival block (Fri 13 Feb 17:00 to Tue 24 Feb 10:00):
    // 0.5h Friday + 7.5h Saturday 14th (worked) + 1h Tuesday.
    assert_eq!(
        cal.working_time_between(sh(2026, 2, 13, 17, 0), sh(2026, 2, 24, 10, 0)),
        Duration::minutes(540)
    );
    // Pause and resume: the working time up to a deadline is what was added.
    for (start, mins) in [
        (sh(2026, 2, 13, 16, 10), 61),
        (sh(2026, 9, 30, 11, 59), 7 * 450 + 1),
        (sh(2025, 12, 31, 20, 0), 450),
        (sh(2026, 11, 29, 3, 0), 13 * 450),
    ] {
        let amount = Duration::minutes(mins);
        let end = cal.add_working_time(start, amount);
        assert_eq!(
            cal.working_time_between(start, end),
            amount,
            "from {start} + {mins} min"
        );
    }
}

// ---- city config ----

const CITY: &str = r#"
working_hours = ["08:30-12:00", "14:00-18:00"]

[[days]]
date = "2026-12-31"
kind = "holiday"
note = "city anniversary"

[[days]]
date = "2026-12-27"
kind = "workday"
note = "make-up for 31 December"
"#;

#[test]
fn city_days_and_hours_apply() {
    let cal = WorkCalendar::from_toml(CITY).expect("valid config");
    assert!(!cal.is_working_day(d(2026, 12, 31)));
    assert!(cal.is_working_day(d(2026, 12, 27)));
    assert!(
        cal.format_exceptions(2026)
            .ends_with("2026-10-10 workday\n2026-12-27 workday\n2026-12-31 holiday\n")
    );
    assert_eq!(
        cal.entry(d(2026, 12, 31)).map(|e| e.source.clone()),
        Some(DaySource::City { line: 5 })
    );
    // Day ends at 18:00 now; Wed 30 Dec + 1 skips the 31st.
    assert_eq!(
        cal.add_working_days(sh(2026, 12, 30, 10, 0), 1),
        sh(2027, 1, 1, 18, 0)
    );
    assert_eq!(cal.working_hours().per_day(), Duration::minutes(450));
}

#[test]
fn city_can_cancel_a_statutory_make_up_day() {
    let cal = WorkCalendar::from_toml("[[days]]\ndate = \"2026-02-14\"\nkind = \"放假\"\n")
        .expect("valid");
    assert!(!cal.is_working_day(d(2026, 2, 14)));
    assert!(
        !cal.format_exceptions(2026).contains("2026-02-14"),
        "a weekend day off is no exception"
    );
    // And work through a statutory holiday.
    let cal = WorkCalendar::from_toml("[[days]]\ndate = \"2026-02-20\"\nkind = \"workday\"\n")
        .expect("valid");
    assert!(cal.is_working_day(d(2026, 2, 20)));
    assert!(!cal.format_exceptions(2026).contains("2026-02-20"));
}

#[test]
fn broken_date_names_its_line_and_nothing_is_applied() {
    let src = "[[days]]\ndate = \"2026-12-31\"\nkind = \"holiday\"\n\n[[days]]\ndate = \"2026-02-30\"\nkind = \"holiday\"\n";
    let mut cal = WorkCalendar::china();
    let err = cal.apply_toml(src).expect_err("30 February");
    assert_eq!(
        err,
        CalendarError::BadDate {
            line: 6,
            value: "2026-02-30".into()
        }
    );
    assert!(err.to_string().contains("line 6") && err.to_string().contains("2026-02-30"));
    assert_eq!(
        cal,
        WorkCalendar::china(),
        "the good first entry must not be applied"
    );
    assert!(cal.is_working_day(d(2026, 12, 31)));
    for bad in ["2026-13-01", "26-12-01", "2026/12/01", "2026-1-1", ""] {
        let src = format!("[[days]]\ndate = \"{bad}\"\nkind = \"holiday\"\n");
        assert!(
            matches!(
                WorkCalendar::from_toml(&src),
                Err(CalendarError::BadDate { line: 2, .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn config_errors_are_typed() {
    let err = |src: &str| WorkCalendar::from_toml(src).expect_err(src);
    assert!(matches!(
        err("[[days]]\ndate = \"2026-12-31\"\nkind = \"day off\"\n"),
        CalendarError::BadKind { line: 3, .. }
    ));
    // Sunday 6 December 2026, already off.
    assert!(matches!(
        err("[[days]]\ndate = \"2026-12-06\"\nkind = \"holiday\"\n"),
        CalendarError::HolidayOnWeekend {
            line: 2,
            weekday: Weekday::Sun,
            ..
        }
    ));
    // Wednesday 2 December 2026, already worked.
    assert!(matches!(
        err("[[days]]\ndate = \"2026-12-02\"\nkind = \"workday\"\n"),
        CalendarError::WorkdayOnWeekday {
            line: 2,
            weekday: Weekday::Wed,
            ..
        }
    ));
    assert!(matches!(
        err(
            "[[days]]\ndate = \"2026-12-31\"\nkind = \"holiday\"\n[[days]]\ndate = \"2026-12-31\"\nkind = \"holiday\"\n"
        ),
        CalendarError::Duplicate {
            line: 5,
            first_line: 2,
            ..
        }
    ));
    // Broken TOML and unknown fields: the toml error names the line.
    let e = err("[[days]]\ndate = \"2026-12-31\nkind = \"holiday\"\n");
    assert!(
        matches!(&e, CalendarError::Toml(m) if m.contains("line 2")),
        "{e}"
    );
    let e = err("[[days]]\ndate = \"2026-12-31\"\nkind = \"holiday\"\nnotes = \"x\"\n");
    assert!(
        matches!(&e, CalendarError::Toml(m) if m.contains("notes")),
        "{e}"
    );
    // Working hours.
    assert!(matches!(
        err("working_hours = [\"12:00-09:00\"]\n"),
        CalendarError::WorkingHours(_)
    ));
    assert!(matches!(
        err("working_hours = [\"09:00-12:00\", \"11:00-17:00\"]\n"),
        CalendarError::WorkingHours(_)
    ));
    assert!(matches!(
        err("working_hours = []\n"),
        CalendarError::WorkingHours(_)
    ));
    assert!(matches!(
        err("working_hours = [\"9am-5pm\"]\n"),
        CalendarError::WorkingHours(_)
    ));
}

#[test]
fn a_second_config_cannot_silently_redefine_a_city_day() {
    let mut cal = WorkCalendar::from_toml(CITY).expect("valid");
    let before = cal.clone();
    let err = cal
        .apply_toml("[[days]]\ndate = \"2026-12-31\"\nkind = \"holiday\"\n")
        .expect_err("already set");
    assert!(matches!(err, CalendarError::AlreadySet { line: 2, .. }));
    assert_eq!(cal, before);
}

#[test]
fn default_working_hours_are_documented_ones() {
    let parsed = WorkingHours::parse(DEFAULT_WORKING_HOURS).expect("valid");
    assert_eq!(parsed, WorkingHours::default());
    assert_eq!(parsed.per_day(), Duration::minutes(450));
    assert_eq!(
        parsed.day_end(),
        NaiveTime::from_hms_opt(17, 30, 0).expect("time")
    );
}
