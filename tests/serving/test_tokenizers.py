"""Tests of the built-in tokenizers ``nltk`` and ``spacy`` on real review text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from toolkit.core import registry
from toolkit.core.errors import ConfigError, RegistryError
from toolkit.serving.tokenizers.nltk_style import NltkStyleTokenizer, english_stopwords
from toolkit.serving.tokenizers.spacy_tokens import SpacyTokenizer
from boundary import assert_serving_only, report_code
from spacy_helpers import run_python

# --------------------------------------------------------------------------
# The polarity corpus
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def review_lines(polarity_path: Path) -> list[str]:
    """Non-empty lines of a few real reviews (both polarities)."""
    root = polarity_path
    files = [root / "pos" / "cv000_29590.txt", root / "neg" / "cv000_29416.txt", root / "pos" / "cv001_18431.txt"]
    lines: list[str] = []
    for f in files:
        lines.extend(line for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
    return lines


# --------------------------------------------------------------------------
# Hand-worked expectations of the nltk cleaning pipeline
# --------------------------------------------------------------------------

# pos/cv000_29590.txt, line 2: '80s and 12-part are not alphabetic once punctuation goes.
SENT_A = (
    "for starters , it was created by alan moore ( and eddie campbell ) , who brought the medium "
    "to a whole new level in the mid '80s with a 12-part series called the watchmen ."
)
EXPECTED_A = [
    "starters", "created", "alan", "moore", "eddie", "campbell", "brought", "medium",
    "whole", "new", "level", "mid", "series", "called", "watchmen",
]

# pos/cv000_29590.txt, line 5: "don't" loses its apostrophe first, so "dont" is no stop word.
SENT_B = "in other words , don't dismiss this film because of its source ."
EXPECTED_B = ["words", "dont", "dismiss", "film", "source"]

# pos/cv000_29590.txt, line 8: a year and a possessive.
SENT_C = "the ghetto in question is , of course , whitechapel in 1888 london's east end ."
EXPECTED_C = ["ghetto", "question", "course", "whitechapel", "londons", "east", "end"]

# neg/cv000_29416.txt, line 1: "two" is not a stop word.
SENT_D = "plot : two teen couples go to a church party , drink and then drive ."
EXPECTED_D = ["plot", "two", "teen", "couples", "go", "church", "party", "drink", "drive"]

# Corpus-like, mixed case: a rating, a title, one-letter tokens (X, b+), stray punctuation.
SENT_E = "I gave it 3/10 stars : the plot is a mess , but Mr. X and Carrey's timing are great ( really ! ) - b+ ."
EXPECTED_E = ["gave", "stars", "plot", "mess", "mr", "carreys", "timing", "great", "really"]

CASES = [(SENT_A, EXPECTED_A), (SENT_B, EXPECTED_B), (SENT_C, EXPECTED_C), (SENT_D, EXPECTED_D), (SENT_E, EXPECTED_E)]


def test_stopword_list_is_nltk_classic() -> None:
    words = english_stopwords()
    assert len(words) == 179
    for word in ("i", "me", "my", "myself", "we", "don't", "shouldn't", "wouldn't", "should've", "ain", "ma"):
        assert word in words
    assert all(w == w.strip().lower() and not w.startswith("#") for w in words)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_nltk_default_pipeline_exact(text: str, expected: list[str]) -> None:
    assert NltkStyleTokenizer()(text) == expected


def test_sentences_come_from_the_corpus(review_lines: list[str]) -> None:
    for sentence in (SENT_A, SENT_B, SENT_C, SENT_D):
        assert sentence in review_lines


@pytest.fixture
def needs_nltk() -> None:
    """Stemming needs nltk, which only the ``[train]`` extra installs."""
    pytest.importorskip("nltk.stem.porter")


def test_nltk_stem(needs_nltk: None) -> None:
    tok = NltkStyleTokenizer(stem=True)
    assert tok(SENT_A) == [
        "starter", "creat", "alan", "moor", "eddi", "campbel", "brought", "medium",
        "whole", "new", "level", "mid", "seri", "call", "watchmen",
    ]
    assert tok(SENT_D) == ["plot", "two", "teen", "coupl", "go", "church", "parti", "drink", "drive"]


def test_nltk_stem_keeps_case_when_not_lowercasing(needs_nltk: None) -> None:
    assert NltkStyleTokenizer(stem=True, lowercase=False)("Campbell called Carrey's Series") == [
        "Campbel", "call", "Carrey", "Seri",
    ]


def test_nltk_stem_without_nltk_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nltk.stem.porter", None)  # makes the import fail
    with pytest.raises(ConfigError, match=r'stem.*pip install "toolkit\[train\]"'):
        NltkStyleTokenizer(stem=True)
    assert NltkStyleTokenizer()(SENT_B) == EXPECTED_B  # nltk is not needed without stemming


def test_nltk_without_stopwords() -> None:
    assert NltkStyleTokenizer(stopwords=False)(SENT_B) == [
        "in", "other", "words", "dont", "dismiss", "this", "film", "because", "of", "its", "source",
    ]


def test_nltk_keeps_case_but_matches_stopwords_case_insensitively() -> None:
    tok = NltkStyleTokenizer(lowercase=False)
    assert tok(SENT_E) == ["gave", "stars", "plot", "mess", "Mr", "Carreys", "timing", "great", "really"]
    assert tok("The Film IS Not Bad") == ["Film", "Bad"]


def test_nltk_min_length() -> None:
    assert NltkStyleTokenizer(min_length=1)(SENT_E) == [
        "gave", "stars", "plot", "mess", "mr", "x", "carreys", "timing", "great", "really", "b",
    ]
    assert NltkStyleTokenizer(min_length=5)(SENT_A) == [
        "starters", "created", "moore", "eddie", "campbell", "brought", "medium", "whole", "level",
        "series", "called", "watchmen",
    ]


def test_nltk_on_whole_review(review_lines: list[str]) -> None:
    tok = NltkStyleTokenizer()
    stop = english_stopwords()
    tokens = [t for line in review_lines for t in tok(line)]
    assert len(tokens) > 200
    assert all(t.isalpha() and t.islower() and len(t) > 1 and t not in stop for t in tokens)
    assert tok("\n".join(review_lines)) == tokens


@pytest.mark.parametrize("text", ["", " ", "   \n\t  ", ". , ( ) !"])
def test_empty_text(text: str) -> None:
    assert NltkStyleTokenizer()(text) == []
    assert SpacyTokenizer()(text) == []


def test_empty_doc() -> None:
    import spacy

    nlp = spacy.blank("en")
    assert SpacyTokenizer()(nlp.make_doc("")) == []
    assert SpacyTokenizer()(nlp.make_doc("  \n ")) == []
    assert NltkStyleTokenizer()(nlp.make_doc("  ")) == []


def test_nltk_accepts_a_spacy_doc(review_lines: list[str]) -> None:
    import spacy

    nlp = spacy.blank("en")
    tok = NltkStyleTokenizer()
    for line in review_lines[:10]:
        assert tok(nlp.make_doc(line)) == tok(line)


# --------------------------------------------------------------------------
# Config round trip through the registry
# --------------------------------------------------------------------------

ROUND_TRIP = [
    ("nltk", {}),
    ("nltk", {"stem": True, "lowercase": False, "stopwords": False, "min_length": 3}),
    ("spacy", {}),
    ("spacy", {"lowercase": False, "drop_punct": False, "drop_stop": True, "drop_numbers": True, "drop_spaces": False}),
]


@pytest.mark.parametrize(("name", "options"), ROUND_TRIP)
def test_config_round_trip(name: str, options: dict, review_lines: list[str]) -> None:
    if options.get("stem"):
        pytest.importorskip("nltk.stem.porter")
    tok = registry.create("tokenizer", name, **options)
    config = json.loads(json.dumps(tok.config))  # JSON-serialisable, as a bundle stores it
    again = registry.create("tokenizer", name, **config)
    assert again.config == tok.config
    assert type(again) is type(tok)
    for line in review_lines[:15] + [SENT_E]:
        assert again(line) == tok(line)


def test_config_lists_every_option() -> None:
    assert NltkStyleTokenizer().config == {"lowercase": True, "stem": False, "stopwords": True, "min_length": 2}
    assert SpacyTokenizer().config == {
        "lang": "en", "lowercase": True, "drop_punct": True, "drop_stop": False,
        "drop_numbers": False, "drop_spaces": True,
    }


def test_unknown_tokenizer_lists_known_names() -> None:
    with pytest.raises(RegistryError) as info:
        registry.create("tokenizer", "no-such-tokenizer")
    message = str(info.value)
    assert "no-such-tokenizer" in message and "nltk" in message and "spacy" in message


@pytest.mark.parametrize(
    ("name", "option", "value"),
    [
        ("nltk", "min_length", 0),
        ("nltk", "min_length", "2"),
        ("nltk", "min_length", True),
        ("nltk", "lowercase", "yes"),
        ("nltk", "stem", 1),
        ("nltk", "stopwords", None),
        ("spacy", "lang", "xx-not-a-language"),
        ("spacy", "lang", 5),
        ("spacy", "drop_punct", "false"),
        ("spacy", "drop_numbers", 0),
    ],
)
def test_bad_option_value(name: str, option: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        registry.create("tokenizer", name, **{option: value})
    assert option in str(info.value)
    assert repr(value) in str(info.value)


def test_unknown_option_is_reported() -> None:
    with pytest.raises(RegistryError, match="lowercas"):
        registry.create("tokenizer", "nltk", lowercas=True)


def test_non_text_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        NltkStyleTokenizer()(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SpacyTokenizer()(["a", "list"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# spaCy tokenizer
# --------------------------------------------------------------------------

SPACY_OPTIONS = [opts for name, opts in ROUND_TRIP if name == "spacy"] + [{"drop_punct": False, "lowercase": False}]


@pytest.mark.parametrize("options", SPACY_OPTIONS)
def test_spacy_same_tokens_from_string_and_doc(options: dict, review_lines: list[str]) -> None:
    import spacy

    nlp = spacy.blank("en")
    tok = SpacyTokenizer(**options)
    for line in review_lines[:25]:
        assert tok(nlp.make_doc(line)) == tok(line)
        assert tok(nlp(line)) == tok(line)


def test_spacy_default_tokens() -> None:
    assert SpacyTokenizer()(SENT_B) == [
        "in", "other", "words", "do", "n't", "dismiss", "this", "film", "because", "of", "its", "source",
    ]


SENT_F = 'the book ( or " graphic novel , " if you will ) is over 500 pages long and includes nearly 30 more .'


def test_spacy_drop_punct() -> None:
    kept = SpacyTokenizer(drop_punct=False)(SENT_F)
    assert "(" in kept and '"' in kept and "." in kept
    dropped = SpacyTokenizer()(SENT_F)
    assert not {"(", ")", '"', ",", "."} & set(dropped)
    assert [t for t in kept if t not in {"(", ")", '"', ",", "."}] == dropped


def test_spacy_drop_numbers() -> None:
    assert SpacyTokenizer(drop_numbers=True)(SENT_F) == [
        "the", "book", "or", "graphic", "novel", "if", "you", "will", "is", "over",
        "pages", "long", "and", "includes", "nearly", "more",
    ]
    assert "500" in SpacyTokenizer()(SENT_F)
    assert SpacyTokenizer(drop_numbers=True)("two teen couples , ten years") == ["teen", "couples", "years"]


def test_spacy_drop_stop() -> None:
    tokens = SpacyTokenizer(drop_stop=True)(SENT_F)
    assert tokens == ["book", "graphic", "novel", "500", "pages", "long", "includes", "nearly", "30"]
    assert SpacyTokenizer(drop_stop=True, lowercase=False)("The Film") == ["Film"]


def test_spacy_drop_spaces() -> None:
    text = "a  great\n\nfilm"
    assert SpacyTokenizer()(text) == ["a", "great", "film"]
    assert SpacyTokenizer(drop_spaces=False)(text) == ["a", " ", "great", "\n\n", "film"]


def test_spacy_lowercase() -> None:
    assert SpacyTokenizer(lowercase=False)("Mr. X isn't great") == ["Mr.", "X", "is", "n't", "great"]
    assert SpacyTokenizer()("Mr. X isn't great") == ["mr.", "x", "is", "n't", "great"]


def test_spacy_shares_one_blank_pipeline_per_language() -> None:
    assert SpacyTokenizer().nlp is SpacyTokenizer(drop_stop=True).nlp


def test_no_heavy_imports() -> None:
    code = report_code() + (
        "import json\n"
        "from toolkit.serving.tokenizers import NltkStyleTokenizer, SpacyTokenizer\n"
        "NltkStyleTokenizer()('a fine film'); SpacyTokenizer()('a fine film')\n"
        "print(json.dumps(_boundary_report(('nltk',))))\n"
    )
    assert_serving_only(run_python(code, env={"TOOLKIT_LOAD_PLUGINS": ""}))


def _clean_token_by_token(text: str, lowercase=True, stopwords=True, min_length=2) -> list[str]:
    """The seed project's loop, one token at a time (the reference for the one-pass version)."""
    import string

    table = str.maketrans("", "", string.punctuation)
    stop = english_stopwords() if stopwords else frozenset()
    out = []
    for token in text.split():
        if lowercase:
            token = token.lower()
        token = token.translate(table)
        if not token.isalpha() or token.lower() in stop or len(token) < min_length:
            continue
        out.append(token)
    return out


@pytest.mark.parametrize("options", [{}, {"stopwords": False}, {"lowercase": False},
                                     {"lowercase": False, "stopwords": False, "min_length": 1}])
def test_one_pass_cleaning_equals_token_by_token(review_lines, options):
    tricky = ["Don't -- stop... (it) 'The' ΣΟΦΟΣ naïve co-op 3D x-men   \t\n A.I. _ __init__ I'm",
              "", "   ", "!!! ... ,,,", "The THE the tHe"]
    tok = NltkStyleTokenizer(**options)
    for text in tricky + review_lines:
        assert tok(text) == _clean_token_by_token(text, **options), text
