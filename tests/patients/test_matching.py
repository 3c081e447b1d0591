from __future__ import annotations

from datetime import date

from patients.matching import Demographics, match_score, normalize_name
from patients.phones import normalize_phone

MARIA = Demographics("María", "Gonzalez", date(1984, 3, 7), "(303) 555-0101", "80202", "F")


def test_a_one_letter_typo_in_the_last_name_is_still_a_possible_duplicate():
    typo = Demographics("Maria", "Gonzlez", date(1984, 3, 7), "3035550101", "80202", "F")
    result = match_score(MARIA, typo)
    assert result.possible
    assert "similar last name" in result.reasons and "same phone" in result.reasons


def test_the_same_person_keyed_identically_matches_automatically():
    result = match_score(MARIA, Demographics("MARIA", "gonzalez", date(1984, 3, 7), "+13035550101"))
    assert result.automatic


def test_a_swapped_day_and_month_counts_but_less_than_an_exact_date():
    swapped = Demographics("Maria", "Gonzalez", date(1984, 7, 3), "3035550101", "80202", "F")
    exact = Demographics("Maria", "Gonzalez", date(1984, 3, 7), "3035550101", "80202", "F")
    assert match_score(MARIA, swapped).possible
    assert match_score(MARIA, swapped).score < match_score(MARIA, exact).score


def test_different_people_sharing_a_birthday_are_not_flagged():
    other = Demographics("Robert", "Nakamura", date(1984, 3, 7), "7205559999", "80301", "M")
    assert not match_score(MARIA, other).possible


def test_normalizers_fold_accents_punctuation_and_country_code():
    assert normalize_name("O'Brien-Núñez") == "obriennunez"
    assert normalize_phone("+1 (303) 555-0101") == "3035550101"


def test_a_near_identical_name_and_dob_is_flagged_even_without_phone_or_zip():
    known = Demographics("Zoe", "Allen", date(1937, 4, 16), "7205550101", "80202", "F")
    caller = Demographics("Zoey", "Allen", date(1937, 4, 16))
    result = match_score(known, caller)
    assert result.possible and not result.automatic
