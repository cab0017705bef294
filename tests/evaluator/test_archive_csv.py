"""parse_predictions_csv: the participants' predictions.csv contract."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator.archive import ALLOWED_COLUMNS, CasePrediction, parse_predictions_csv
from evaluator.archive.predictions_csv import MAX_REPORTED_PROBLEMS
from evaluator.problems import Problem

CASES = ("c001", "c002", "c003")
KNOWN = (*CASES, "p001")


def parse(text: str | bytes, **kwargs):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_predictions_csv(data, expected_case_ids=kwargs.pop("expected", CASES),
                                 known_case_ids=kwargs.pop("known", KNOWN), **kwargs)


def messages(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems]


def test_valid_file_gives_every_case():
    predictions, columns, problems = parse("case_id,covid_probability,severity\nc001,0.9,0.25\nc002,0,0\nc003,1,1\n")
    assert problems == []
    assert columns == {"covid_probability", "severity"}
    assert predictions == {"c001": CasePrediction(0.9, 0.25), "c002": CasePrediction(0.0, 0.0),
                           "c003": CasePrediction(1.0, 1.0)}


def test_bom_crlf_whitespace_and_column_order():
    data = (b"\xef\xbb\xbf severity , case_id ,covid_probability\r\n0.5, c002 ,0.25\r\n\r\n"
            b"0.1,c001, 1e-1 \r\n0,c003,.5\r\n")
    predictions, columns, problems = parse(data)
    assert problems == []
    assert columns == {"covid_probability", "severity"}
    assert predictions["c001"] == CasePrediction(covid_probability=0.1, severity=0.1)
    assert predictions["c002"] == CasePrediction(covid_probability=0.25, severity=0.5)
    assert predictions["c003"] == CasePrediction(covid_probability=0.5, severity=0.0)


def test_quoted_fields_are_csv():
    predictions, _, problems = parse('"case_id","covid_probability"\n"c001","0.5"\nc002,0.5\nc003,0.5\n')
    assert problems == [] and predictions["c001"].covid_probability == 0.5


@pytest.mark.parametrize("header", ["case_id,covid_probability", "case_id,severity"])
def test_a_score_column_may_be_left_out(header):
    column = header.split(",")[1]
    predictions, columns, problems = parse(f"{header}\nc001,0.1\nc002,0.2\nc003,0.3\n")
    assert problems == [] and columns == {column}
    other = ({"covid_probability", "severity"} - {column}).pop()
    assert all(getattr(p, other) is None for p in predictions.values())
    assert [getattr(predictions[c], column) for c in CASES] == [0.1, 0.2, 0.3]


def test_a_column_empty_in_every_row_counts_as_absent():
    predictions, columns, problems = parse("case_id,covid_probability,severity\nc001,0.1,\nc002,0.2, \nc003,0.3,\n")
    assert problems == [] and columns == {"covid_probability"}
    assert predictions["c002"] == CasePrediction(covid_probability=0.2, severity=None)


def test_only_case_ids_is_not_a_csv_problem():
    predictions, columns, problems = parse("case_id\nc001\nc002\nc003\n")
    assert problems == [] and columns == frozenset()
    assert predictions == {c: CasePrediction() for c in CASES}


def test_partly_empty_column_names_the_rows():
    _, columns, problems = parse("case_id,severity\nc001,0.1\nc002,\nc003,\n")
    assert columns == {"severity"}
    assert [(p.case_id, p.message) for p in problems] == [
        ("c002", "empty severity on line 3, while other rows have one"),
        ("c003", "empty severity on line 4, while other rows have one"),
    ]


@pytest.mark.parametrize("value, why", [
    ("nan", "is not a number"), ("NaN", "is not a number"), ("inf", "is not a number"),
    ("-inf", "is not a number"), ("1e400", "is not a finite number"), ("-0.1", "is outside [0, 1]"),
    ("1.0001", "is outside [0, 1]"), ("abc", "is not a number"), ("0,5", None), ("0x1", "is not a number"),
    ("1_0", "is not a number"), ("０.５", "is not a number"), ("--1", "is not a number"), (".", "is not a number"),
])
def test_invalid_values(value, why):
    text = f'case_id,covid_probability\nc001,"{value}"\nc002,0.2\nc003,0.3\n'
    _, _, problems = parse(text)
    if why is None:  # "0,5" quoted is one field that is not a number
        why = "is not a number"
    assert [(p.case_id, p.message) for p in problems] == [
        ("c001", f"covid_probability {value!r} on line 2 {why}")]
    assert problems[0].expected == "a probability of COVID-19 between 0 and 1"
    assert problems[0].file == "predictions.csv"


@pytest.mark.parametrize("value, expected", [("0", 0.0), ("-0", 0.0), ("+1", 1.0), ("1.", 1.0), ("5e-1", 0.5),
                                             ("1e-400", 0.0), ("0.000", 0.0)])
def test_valid_number_spellings(value, expected):
    predictions, _, problems = parse(f"case_id,severity\nc001,{value}\nc002,0\nc003,0\n")
    assert problems == [] and predictions["c001"].severity == expected


def test_unknown_columns_list_the_allowed_names():
    _, columns, problems = parse("case_id,covid_prob,severity,notes\nc001,0.1,0.1,x\nc002,0.1,0.1,x\nc003,0.1,0.1,x\n")
    assert messages(problems) == ["unknown column(s) 'covid_prob', 'notes'; did you mean 'covid_probability' for "
                                  "'covid_prob'?"]
    assert problems[0].expected == f"only the columns {', '.join(ALLOWED_COLUMNS)}"
    assert columns == {"severity"}  # the known columns are still read


def test_misspelt_columns_get_a_suggestion():
    _, _, problems = parse("Case_ID,Severity \nc001,0.1\n")
    assert "did you mean 'case_id' for 'Case_ID', 'severity' for 'Severity'?" in problems[0].message


def test_semicolon_separated_file_gets_a_hint():
    _, _, problems = parse("case_id;covid_probability\nc001;0.1\n")
    assert messages(problems) == [
        "unknown column(s) 'case_id;covid_probability'; columns must be separated by commas",
        "no case_id column",
    ]


def test_duplicate_and_missing_header_columns():
    assert messages(parse("case_id,severity,severity\nc001,0.1,0.1\n")[2]) == ["column 'severity' appears 2 times"]
    assert messages(parse("covid_probability\n0.1\n")[2]) == ["no case_id column"]


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf", b" , ,\r\n"])
def test_empty_file(data):
    assert messages(parse(data)[2]) == ["is empty"]


def test_not_utf8_names_the_line():
    _, _, problems = parse(b"case_id,severity\nc001,0.1\n" + "c002,0.2 é\n".encode("latin-1"))
    assert messages(problems) == ["is not UTF-8 text: byte 0xe9 on line 3 cannot be decoded"]
    utf16 = "case_id,severity\nc001,0.1\n".encode("utf-16")
    assert messages(parse(utf16)[2]) == ["is not UTF-8 text: byte 0xff on line 1 cannot be decoded"]


def test_rows_checked_against_cases():
    text = ("case_id,severity\nc001,0.1\nc001,0.2\nzz99,0.1\np001,0.1\nbad id!,0.1\n,0.1\n"
            "c002,0.1,0.2\n")
    predictions, _, problems = parse(text)
    assert [(p.case_id, p.message) for p in problems] == [
        ("c001", "a second row for case 'c001' on line 3 (the first is on line 2)"),
        ("zz99", "a row (line 4) for unknown case 'zz99'"),
        ("p001", "a row (line 5) for case 'p001', which is not part of this track"),
        (None, "case_id 'bad id!' on line 6 is not a valid case id"),
        (None, "line 7 has an empty case_id"),
        (None, "line 8 has 3 fields, the header (line 1) has 2"),
        ("c002", "no row for case 'c002'"),
        ("c003", "no row for case 'c003'"),
    ]
    assert predictions == {"c001": CasePrediction(severity=0.1)}


def test_known_but_not_visible_needs_known_ids():
    _, _, problems = parse("case_id,severity\nc001,0\nc002,0\nc003,0\np001,0\n", known=())
    assert messages(problems) == ["a row (line 5) for unknown case 'p001'"]


def test_file_name_is_reported():
    _, _, problems = parse("case_id,severity\n", file_name="team/predictions.csv")
    assert {p.file for p in problems} == {"team/predictions.csv"}


def test_broken_csv_is_a_problem_not_an_exception():
    _, _, problems = parse('case_id,severity\nc001,"0.1\n')
    assert len(problems) == 1 and problems[0].message.startswith("is not valid CSV near line")


def test_problem_list_is_capped():
    rows = "".join(f"x{i},0.5\n" for i in range(MAX_REPORTED_PROBLEMS + 500))
    _, _, problems = parse("case_id,severity\n" + rows)
    assert len(problems) == MAX_REPORTED_PROBLEMS + 1
    assert problems[-1].message == "503 more problems in this file, not listed"  # 500 rows + 3 missing cases


def test_partly_empty_cells_are_capped_too():
    rows = "c001,0.5\n" + "".join(f"x{i},\n" for i in range(MAX_REPORTED_PROBLEMS + 10))
    _, _, problems = parse("case_id,severity\n" + rows)
    assert len(problems) == MAX_REPORTED_PROBLEMS + 1
    assert problems[-1].message.endswith("more problems in this file, not listed")


# --- fuzzing -------------------------------------------------------------------------------------

def _check_result(result) -> None:
    predictions, columns, problems = result
    assert set(predictions) <= set(CASES)
    assert columns <= {"covid_probability", "severity"}
    assert all(isinstance(p, Problem) and p.message for p in problems)
    for prediction in predictions.values():
        for value in (prediction.covid_probability, prediction.severity):
            assert value is None or 0.0 <= value <= 1.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_never_raise(data):
    _check_result(parse_predictions_csv(data, expected_case_ids=CASES, known_case_ids=KNOWN))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_random_text_never_raises(text):
    _check_result(parse_predictions_csv(text.encode("utf-8", "surrogatepass"), expected_case_ids=CASES))


_cells = st.one_of(st.sampled_from([*CASES, "p001", "zz", "", " ", "0.5", "1", "-0", "nan", "1e400", '"', "a,b"]),
                   st.text(max_size=6))
_headers = st.lists(st.sampled_from([*ALLOWED_COLUMNS, "covid_prob", "", " case_id "]), min_size=0, max_size=4)


@settings(max_examples=300, deadline=None)
@given(_headers, st.lists(st.lists(_cells, max_size=5), max_size=8), st.sampled_from(["\n", "\r\n", "\r"]))
def test_fuzz_structured_csv_never_raises(header, rows, newline):
    text = newline.join(",".join(row) for row in [header, *rows])
    result = parse_predictions_csv(text.encode("utf-8", "surrogatepass"), expected_case_ids=CASES,
                                   known_case_ids=KNOWN)
    _check_result(result)
    predictions, _, problems = result
    if not problems:  # a clean parse covers exactly the expected cases
        assert set(predictions) == set(CASES)
