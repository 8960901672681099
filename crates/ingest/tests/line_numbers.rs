//! Rejections name the line of the input they come from, however the input is cut into batches:
//! a mapped file's batches leave their lines to the workers, which number them from the batch's
//! start, and the committing thread makes them the file's own (`LineNumbers::Relative`).

use gatehouse_formats::input::{expand_paths, InputFile};
use gatehouse_ingest::{ingest, IngestOptions};
use gatehouse_store::Store;

fn sign_in(n: u64) -> String {
    format!(
        r#"{{"id":"00000000-0000-4000-8000-{n:012}","createdDateTime":"2026-11-02T10:{:02}:{:02}Z","userPrincipalName":"u{}@contoso.com","signInEventTypes":["interactiveUser"],"status":{{"errorCode":0}}}}"#,
        n / 60 % 60,
        n % 60,
        n % 17
    )
}

/// A file of `lines` lines: sign-ins, with a malformed line at each of `bad`, a blank line at
/// each of `blank`, and a byte order mark opening line 1; sign-in ids from `first_id` on. Returns
/// the text and the sign-ins in it.
fn input(first_id: u64, lines: u64, bad: &[u64], blank: &[u64]) -> (String, u64) {
    let mut text = String::from("\u{feff}");
    let mut good = 0;
    for line in 1..=lines {
        if bad.contains(&line) {
            text.push_str(r#"{"id": "broken", "createdDateTime": "#);
        } else if !blank.contains(&line) {
            text.push_str(&sign_in(first_id + line));
            good += 1;
        }
        text.push('\n');
    }
    (text, good)
}

/// Ingests `paths` with batches of `chunk_bytes`, mapped or read into buffers; the rejections'
/// (file name, line), in order, and the rows stored.
fn rejected_lines(
    paths: &[std::path::PathBuf],
    chunk_bytes: usize,
    map_files: bool,
) -> (Vec<(String, u64)>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut writer = store.writer().unwrap();
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let inputs: Vec<InputFile> = expand_paths(&names).unwrap();
    let opts = IngestOptions {
        chunk_bytes,
        map_files,
        tenant: Some("contoso".into()),
        ..IngestOptions::default()
    };
    let summary = ingest(&mut writer, &inputs, &opts, &mut |_| {}).unwrap();
    let mut lines: Vec<(String, u64)> = summary
        .rejected
        .iter()
        .map(|r| {
            let name = std::path::Path::new(&*r.origin.file)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, r.origin.line)
        })
        .collect();
    lines.sort();
    (lines, summary.stored.values().sum())
}

#[test]
fn rejections_name_their_line_in_every_batch_of_every_file() {
    let dir = tempfile::tempdir().unwrap();
    // (A first line that is not JSON would make the file be read as a stream of values.)
    let bad_a = [2, 57, 300, 301, 999, 1000];
    let (a, good_a) = input(0, 1000, &bad_a, &[3, 58, 500, 998]);
    let bad_b = [10, 700];
    let (b, good_b) = input(10_000, 800, &bad_b, &[1, 2]);
    let path_a = dir.path().join("a.jsonl");
    let path_b = dir.path().join("b.jsonl");
    std::fs::write(&path_a, &a).unwrap();
    std::fs::write(&path_b, &b).unwrap();
    let mut want: Vec<(String, u64)> = bad_a
        .iter()
        .map(|l| ("a.jsonl".to_string(), *l))
        .chain(bad_b.iter().map(|l| ("b.jsonl".to_string(), *l)))
        .collect();
    want.sort();
    // Batches of one line, of a few, of many, and the whole file; mapped and read into buffers.
    for chunk_bytes in [1, 700, 4 << 10, 64 << 10, 16 << 20] {
        for map_files in [true, false] {
            let (got, stored) =
                rejected_lines(&[path_a.clone(), path_b.clone()], chunk_bytes, map_files);
            assert_eq!(
                got, want,
                "batches of {chunk_bytes} bytes, mapped {map_files}"
            );
            assert_eq!(
                stored,
                good_a + good_b,
                "batches of {chunk_bytes} bytes, mapped {map_files}"
            );
        }
    }
}

#[test]
fn a_file_read_twice_numbers_its_lines_from_1_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = input(0, 400, &[5, 390], &[]);
    let path = dir.path().join("a.jsonl");
    std::fs::write(&path, &a).unwrap();
    let (got, _) = rejected_lines(&[path.clone(), path], 2 << 10, true);
    let a = |l| ("a.jsonl".to_string(), l);
    assert_eq!(got, vec![a(5), a(5), a(390), a(390)]);
}

/// The direct path reads a mapped file's records where they lie, finding each line's end itself:
/// a record spread over lines, followed by more on its line, or ended by CRLF or blanks must
/// come out as it does when the lines are cut first (files read into buffers).
#[test]
fn records_read_in_place_end_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let one = sign_in(1);
    let spread = sign_in(2).replace(r#","userPrincipalName""#, ",\n\"userPrincipalName\"");
    let lines = [
        one.clone(),
        sign_in(3) + "   \t",
        sign_in(4) + "\r",
        spread,                          // lines 4 and 5: each half rejected
        sign_in(5) + " {\"id\":\"x\"}",  // line 6: another record after it
        String::new(),                   // line 7: blank
        "   ".to_string() + &sign_in(6), // line 8: blanks before
        sign_in(7) + "garbage",          // line 9: more after the record
        sign_in(8),
    ];
    let text = lines.join("\n"); // no newline after the last line
    let path = dir.path().join("a.jsonl");
    std::fs::write(&path, &text).unwrap();
    let a = |l| ("a.jsonl".to_string(), l);
    let want = vec![a(4), a(5), a(6), a(9)];
    for chunk_bytes in [1, 300, 4 << 10, 1 << 20] {
        for map_files in [true, false] {
            let (got, stored) = rejected_lines(std::slice::from_ref(&path), chunk_bytes, map_files);
            assert_eq!(
                got, want,
                "batches of {chunk_bytes} bytes, mapped {map_files}"
            );
            assert_eq!(
                stored, 5,
                "batches of {chunk_bytes} bytes, mapped {map_files}"
            );
        }
    }
}
