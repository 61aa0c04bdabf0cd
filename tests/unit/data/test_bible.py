"""The built-in bible-en-es corpus: OSIS cleaning rules, alignment, splits and shipped files.

Unit tests run on hand-written OSIS snippets and need neither pysword nor the SWORD modules;
the integration test rebuilds the corpus from SWORD and compares it with the shipped files.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import pytest

from seq2seq.data.builtin import bible, osis
from seq2seq.errors import DataError

W = '<w lemma="strong:H0001">'
ADDED = '<transChange type="added">'


def es(raw: str) -> str:
    """The Spanish cleaning of one verse (markup stripped, added words spaced)."""
    return osis.space_added_words(osis.strip_markup(raw, mark_added=True))


# --- OSIS cleaning ------------------------------------------------------------------------------


def test_note_is_replaced_by_a_space() -> None:
    raw = f'{W}God</w><note placement="foot">The Hebrew word is “Elohim”.</note>{W}created</w>'
    assert osis.strip_markup(raw) == "God created"


def test_note_before_closing_punctuation_leaves_no_space() -> None:
    raw = f"twenty {W}gerahs</w><note>a gerah is 0.5 grams</note>); half"
    assert osis.strip_markup(raw) == "twenty gerahs); half"


def test_two_notes_do_not_swallow_the_text_between_them() -> None:
    raw = "the shekel<note>n1</note> of the sanctuary (twenty gerahs<note>n2</note>); half"
    assert osis.strip_markup(raw) == "the shekel of the sanctuary (twenty gerahs); half"


def test_cross_reference_note_with_nested_markup_is_dropped() -> None:
    raw = '<note type="crossReference"><reference>Amos 8:10</reference></note>“Your feasts'
    assert osis.strip_markup(raw) == "“Your feasts"


def test_text_of_inline_elements_is_kept() -> None:
    raw = (
        f'<q who="Jesus" marker="">{W}Go</w></q> to <name type="x-usfm-bk">The Book</name>'
        f'<seg type="x-usfm-fl">s</seg> {ADDED}now</transChange>'
    )
    assert osis.strip_markup(raw) == "Go to The Books now"


def test_canonical_psalm_title_is_kept_in_verse_one() -> None:
    raw = (
        '<title canonical="true" type="psalm">A Psalm by David.</title> <lg sID="g1"/>'
        '<l level="1" sID="g2"/>Yahweh, how my adversaries have increased!<l eID="g2"/>'
    )
    assert osis.strip_markup(raw) == "A Psalm by David. Yahweh, how my adversaries have increased!"


def test_non_canonical_titles_and_speakers_are_dropped() -> None:
    raw = '<title type="main">Song</title><speaker>Beloved</speaker> <lg sID="a"/>Let him kiss me'
    assert osis.strip_markup(raw) == "Let him kiss me"


def test_text_after_the_end_of_the_book_is_dropped() -> None:
    raw = (
        'Amen.  <chapter eID="Rev.22"/> <div canonical="true" eID="g9" osisID="Rev" type="book"/>'
        ' <div sID="g10" type="glossary"/> <title type="main">Glossary</title> Abba is...'
    )
    assert osis.strip_markup(raw) == "Amen."


def test_paragraph_end_does_not_cut_the_verse() -> None:
    assert osis.strip_markup('one. <div eID="g25" type="x-p"/> two.') == "one. two."


def test_whitespace_is_normalised_and_entities_decoded() -> None:
    assert osis.strip_markup("  a\tb\n\nc &amp; d  ") == "a b c & d"


# --- Spanish repairs ----------------------------------------------------------------------------


def test_added_words_get_spaces_around_them() -> None:
    raw = f"{W}no</w>{ADDED}será esta</transChange>{W}oscuridad</w> tal"
    assert es(raw) == "no será esta oscuridad tal"


def test_added_words_next_to_punctuation_get_no_extra_space() -> None:
    raw = f"{W}Abram</w> {ADDED}de allí</transChange>, y {ADDED}Salmo</transChange>{W}de</w>"
    assert es(raw) == "Abram de allí, y Salmo de"


@pytest.mark.parametrize(
    ("host", "clitic", "expected"),
    [
        ("sáca", "lo", "sácalo"),
        ("díjo", "le", "díjole"),
        ("adorándo", "le", "adorándole"),
        ("desatad", "la", "desatadla"),
        ("escribir", "te", "escribirte"),
        ("da", "lo", "dalo"),
    ],
)
def test_enclitic_pronouns_stay_attached_to_the_verb(host: str, clitic: str, expected: str) -> None:
    raw = f"y {W}{host}</w>{ADDED}{clitic}</transChange> {W}luego</w>"
    assert es(raw) == f"y {expected} luego"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"y {W}no</w>{ADDED}lo</transChange>{W}hizo</w>", "y no lo hizo"),
        (
            f"el ángel de {W}Jehová</w>{ADDED}los</transChange>{W}acose</w>",
            "el ángel de Jehová los acose",
        ),
        (f"{W}cuánto</w>{ADDED}nos</transChange>{W}ayudó</w>", "cuánto nos ayudó"),
        (f"{W}á</w>{ADDED}la</transChange>{W}tierra</w>", "á la tierra"),
    ],
)
def test_clitic_after_a_non_verb_is_a_separate_word(raw: str, expected: str) -> None:
    assert es(raw) == expected


@pytest.mark.parametrize(
    ("verse", "expected"),
    [
        ("EN el principio crió Dios", "En el principio crió Dios"),
        ("DE OCHO años era Josías", "De ocho años era Josías"),
        ("Y ABRAHAM era viejo", "Y Abraham era viejo"),
        ("Y Á SUS discípulos dice", "Y á sus discípulos dice"),
        ("Salmo de David. ¡OH Jehová, cuánto", "Salmo de David. ¡Oh Jehová, cuánto"),
        ("HE AQUÍ que todas", "He aquí que todas"),
        ("HE aquí que Jehová", "He aquí que Jehová"),
        ("ALEPH. BIENAVENTURADOS los perfectos", "ALEPH. Bienaventurados los perfectos"),
    ],
)
def test_drop_cap_is_recased(verse: str, expected: str) -> None:
    assert osis.recase_drop_cap(verse, {"abraham": "Abraham"}) == expected


@pytest.mark.parametrize(
    "verse",
    [
        "Salmo de David. JEHOVÁ es mi pastor; nada me faltará.",
        "Y JEHOVÁ dijo á Noé: Entra tú",
        "Y la tierra estaba desordenada",
    ],
)
def test_real_small_caps_words_and_plain_verses_are_kept(verse: str) -> None:
    assert osis.recase_drop_cap(verse, {}) == verse


def test_drop_cap_recasing_touches_only_the_first_run() -> None:
    verse = "EN aquel día: SANTIDAD Á JEHOVÁ"
    assert osis.recase_drop_cap(verse, {}) == "En aquel día: SANTIDAD Á JEHOVÁ"


def test_casing_table_learns_proper_names_from_mid_sentence_use() -> None:
    texts = ["Y vino Abraham á la tierra.", "Dijo á Abraham: Sal", "Abraham era viejo y rico."]
    table = osis.build_casing_table(texts)
    assert table["abraham"] == "Abraham"
    assert "viejo" not in table


def test_pauline_subscription_is_removed() -> None:
    verse = (
        "Al solo Dios sabio, sea gloria. Amén. Fué escrita de Corinto á los Romanos, enviada "
        "por medio de Febe, diaconisa."
    )
    assert osis.remove_subscription(verse) == "Al solo Dios sabio, sea gloria. Amén."
    letter = "Amén. La primera á los Corintios fué enviada de Filipos con Estéfanas."
    assert osis.remove_subscription(letter) == "Amén."


def test_verse_without_subscription_is_untouched() -> None:
    verse = "La gracia de nuestro Señor Jesucristo sea con vuestro espíritu. Amén."
    assert osis.remove_subscription(verse) == verse


# --- alignment and filtering --------------------------------------------------------------------

EN_CHAPTER = {1: "a" * 20, 2: "b" * 90, 3: "c" * 30, 4: "d" * 120, 5: "e" * 15, 6: "f" * 60}


def test_shifted_chapter_is_detected() -> None:
    shifted = {v: EN_CHAPTER.get(v - 1, "z" * 40) for v in EN_CHAPTER}
    assert bible.looks_shifted(EN_CHAPTER, shifted, 0.0)
    assert not bible.looks_shifted(EN_CHAPTER, dict(EN_CHAPTER), 0.0)


def test_align_drops_mismatched_manual_and_shifted_chapters() -> None:
    shifted = {v: EN_CHAPTER.get(v - 1, "z" * 40) for v in EN_CHAPTER}
    en = {("Gen", 1): EN_CHAPTER, ("Gen", 2): EN_CHAPTER, ("Job", 39): EN_CHAPTER}
    en |= {("Gen", 3): EN_CHAPTER, ("Ps", 150): EN_CHAPTER}
    es_bible = {("Gen", 1): dict(EN_CHAPTER), ("Gen", 2): {**EN_CHAPTER, 6: ""}}
    es_bible |= {("Job", 39): dict(EN_CHAPTER), ("Gen", 3): shifted, ("Ps", 150): shifted}
    pairs, dropped = bible.align_chapters(en, es_bible)
    assert [reason.split(":")[0] for reason in dropped] == ["Gen 2", "Job 39", "Gen 3"]
    assert {(p.book, p.chapter) for p in pairs} == {("Gen", 1), ("Ps", 150)}
    assert [p.verse for p in pairs if p.book == "Gen"] == [1, 2, 3, 4, 5, 6]


def test_ratio_filter_keeps_pairs_within_bounds() -> None:
    en = "x" * 100
    pairs = [
        bible.VersePair("Gen", 1, v, en, "y" * n) for v, n in enumerate([100, 220, 221, 46, 45])
    ]
    kept, dropped = bible.filter_by_ratio(pairs)
    assert [len(p.es) for p in kept] == [100, 220, 46]
    assert [len(p.es) for p in dropped] == [221, 45]


# --- splits ---------------------------------------------------------------------------------------

DATA_MD_SPLITS = {
    "train": "Gen Exod Lev Num Deut Josh Judg 1Sam 2Sam 1Kgs 2Kgs 1Chr 2Chr Ezra Neh Job Ps Prov "
    "Eccl Song Isa Jer Ezek Dan Hos Jonah Mic Zech Matt Luke John Acts Rom 1Cor 2Cor Heb 2Pet "
    "1John Rev",
    "dev": "Joel Obad Nah Hab Hag Mal Gal Eph 1Thess 2Thess 1Tim 2Tim Phlm 2John 3John",
    "test": "Zeph Mark Phil Col",
    "reserved": "Ruth Esth Lam Amos Titus Jas 1Pet Jude",
}


def test_split_allow_lists_are_exactly_the_data_md_lists() -> None:
    assert tuple(DATA_MD_SPLITS["train"].split()) == bible.TRAIN_BOOKS
    assert tuple(DATA_MD_SPLITS["dev"].split()) == bible.DEV_BOOKS
    assert tuple(DATA_MD_SPLITS["test"].split()) == bible.TEST_BOOKS
    assert tuple(DATA_MD_SPLITS["reserved"].split()) == bible.RESERVED_BOOKS


def test_splits_are_disjoint_cover_the_canon_and_leave_out_reserved_books() -> None:
    train, dev, test = set(bible.TRAIN_BOOKS), set(bible.DEV_BOOKS), set(bible.TEST_BOOKS)
    assert not (train & dev or train & test or dev & test)
    assert not (train | dev | test) & set(bible.RESERVED_BOOKS)
    assert sorted(train | dev | test | set(bible.RESERVED_BOOKS)) == sorted(bible.CANON)
    assert len(bible.CANON) == 66
    assert not set(bible.allowed_books()) & set(bible.RESERVED_BOOKS)


def test_split_pairs_routes_by_book_and_drops_other_books() -> None:
    pairs = [bible.VersePair(book, 1, 1, "en", "es") for book in ("Gen", "Joel", "Mark", "Ruth")]
    splits = bible.split_pairs(pairs)
    assert {split: [p.book for p in ps] for split, ps in splits.items()} == {
        "train": ["Gen"],
        "dev": ["Joel"],
        "test": ["Mark"],
    }


# --- files ----------------------------------------------------------------------------------------


def test_written_splits_are_deterministic_gzip(tmp_path: Path) -> None:
    pairs = [("In the beginning", "En el principio"), ("God", "Dios")]
    first, second = tmp_path / "a" / "x.tsv.gz", tmp_path / "b" / "x.tsv.gz"
    bible.write_pairs(first, pairs)
    bible.write_pairs(second, pairs)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime
    assert bible.read_pairs(first) == pairs
    assert sorted(p.name for p in first.parent.iterdir()) == ["x.tsv.gz"]  # no temp file left


def test_unwritable_pairs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unwritable"):
        bible.write_pairs(tmp_path / "x.tsv.gz", [("a\tb", "c")])


def test_ragged_split_line_raises_a_data_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv.gz"
    path.write_bytes(gzip.compress(b"a\tb\nonly one field\n"))
    with pytest.raises(DataError, match=r"x\.tsv\.gz:2: expected english<TAB>spanish"):
        bible.read_pairs(path)


def test_compare_with_shipped_reports_differences(tmp_path: Path) -> None:
    for split in bible.SPLITS:
        shutil.copy(bible.SHIPPED_DIR / f"{split}.tsv.gz", tmp_path)
    assert bible.compare_with_shipped(tmp_path) == []
    dev = bible.read_pairs(tmp_path / "dev.tsv.gz")
    bible.write_pairs(tmp_path / "dev.tsv.gz", [("changed", "cambiado"), *dev[1:]])
    (tmp_path / "test.tsv.gz").unlink()
    differences = bible.compare_with_shipped(tmp_path)
    assert differences[0].startswith("dev line 1: rebuilt ('changed', 'cambiado')")
    assert differences[1].startswith("test: missing")


def test_missing_pysword_raises_a_data_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pysword", None)
    monkeypatch.setitem(sys.modules, "pysword.modules", None)
    with pytest.raises(DataError, match=r"pip install 'seq2seq-kit\[corpus\]'"):
        bible.prepare_from_sword(Path("unused"))


def require_pysword() -> None:
    """Skips the calling test when pysword cannot be imported."""
    try:
        import pysword  # noqa: F401
    except ImportError:
        pytest.skip("pysword is not installed: pip install 'seq2seq-kit[corpus]'")


def test_missing_sword_module_raises_a_data_error_naming_the_packages(tmp_path: Path) -> None:
    require_pysword()
    with pytest.raises(DataError, match="apt-get install sword-text-web sword-text-sparv"):
        bible.read_module(bible.EN_MODULE, ["Gen"], sword_dir=tmp_path)


# --- shipped corpus -------------------------------------------------------------------------------

SHIPPED_COUNTS = {"train": 27_742, "dev": 978, "test": 930}


@pytest.mark.parametrize("split", bible.SPLITS)
def test_shipped_split_has_two_non_empty_fields_per_line(split: str) -> None:
    path = bible.SHIPPED_DIR / f"{split}.tsv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")
    assert lines.pop() == ""  # the file ends with a newline
    assert len(lines) == SHIPPED_COUNTS[split]
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == 2 and all(f.strip() == f and f for f in fields), line


# --- rebuild from SWORD ---------------------------------------------------------------------------


@pytest.mark.integration
def test_rebuild_from_sword_reproduces_the_shipped_files(tmp_path: Path) -> None:
    require_pysword()
    for module in (bible.EN_MODULE, bible.ES_MODULE):
        if not (bible.DEFAULT_SWORD_DIR / "mods.d" / f"{module}.conf").is_file():
            pytest.skip(
                f"SWORD module {module} not installed: apt-get install {bible.APT_PACKAGES}"
            )
    paths = bible.prepare_from_sword(tmp_path)
    assert set(paths) == {"train", "dev", "test"}
    assert bible.compare_with_shipped(tmp_path) == []
