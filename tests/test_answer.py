"""The answer rule of the original (`original_rule`): only the updated models vote; and `combine`."""

import numpy as np

from digitrec.answer import NOT_RECOGNISED, Answer, combine, decide, original_rule, top_digits


def probs(digit: int, p: float) -> np.ndarray:
    """Probabilities (10,) with `p` on `digit` and the rest spread evenly."""
    out = np.full(10, (1 - p) / 9, dtype=np.float32)
    out[digit] = p
    return out


def vote(fnn_updated, cnn_updated, fnn=None, cnn=None) -> Answer:
    return original_rule(
        {
            "fnn": probs(0, 0.99) if fnn is None else fnn,
            "fnn_updated": fnn_updated,
            "cnn": probs(0, 0.99) if cnn is None else cnn,
            "cnn_updated": cnn_updated,
        }
    )


def test_top_digits_lists_the_three_likeliest_most_likely_first():
    p = np.array([0.01, 0.6, 0.02, 0.25, 0.0, 0.0, 0.1, 0.0, 0.02, 0.0])
    assert top_digits(p) == [
        {"digit": 1, "probability": 0.6},
        {"digit": 3, "probability": 0.25},
        {"digit": 6, "probability": 0.1},
    ]


def test_agreeing_updated_models_give_the_answer_even_when_unsure():
    answer = vote(probs(7, 0.3), probs(7, 0.4))
    assert answer.digit == 7
    assert "7" in answer.message


def test_disagreeing_unsure_models_recognise_nothing():
    answer = vote(probs(3, 0.45), probs(5, 0.49))
    assert answer.digit is None
    assert answer.message == NOT_RECOGNISED


def test_when_they_disagree_the_more_confident_wins():
    assert vote(probs(3, 0.9), probs(5, 0.6)).digit == 3
    assert vote(probs(3, 0.4), probs(5, 0.6)).digit == 5


def test_the_original_models_do_not_vote():
    assert vote(probs(4, 0.9), probs(4, 0.9), fnn=probs(1, 1.0), cnn=probs(1, 1.0)).digit == 4


def test_several_digits_read_as_one_string():
    text, message = combine([Answer(4, "a"), Answer(2, "b")])
    assert text == "42"
    assert "42" in message


def test_one_unrecognised_digit_makes_the_whole_number_unrecognised():
    text, message = combine([Answer(4, "a"), Answer(None, NOT_RECOGNISED), Answer(1, "c")])
    assert text is None
    assert "digit 2 of 3" in message


def test_a_single_digit_keeps_its_own_message():
    assert combine([Answer(None, NOT_RECOGNISED)]) == (None, NOT_RECOGNISED)
    assert combine([Answer(8, "It's an 8.")]) == ("8", "It's an 8.")


def test_messages_use_the_article_the_digit_is_spoken_with():
    eight, seven = np.eye(10)[8], np.eye(10)[7]
    assert "it's an 8" in original_rule({"fnn_updated": eight, "cnn_updated": eight}).message
    assert "it's a 7" in original_rule({"fnn_updated": seven, "cnn_updated": seven}).message


def test_pieces_all_refused_for_one_reason_keep_that_reason():
    line = "That looks like a line, not a digit."
    assert combine([Answer(None, line), Answer(None, line)]) == (None, line)
    text, message = combine([Answer(None, line), Answer(None, NOT_RECOGNISED)])
    assert text is None and message == "Can't recognize digits 1, 2 of 2 as a digit."


def test_a_refusal_overrides_the_models_vote():
    sure = probs(4, 0.99)
    verdict = decide({"fnn_updated": sure, "cnn_updated": sure}, refusal="Draw bigger.")
    assert verdict == Answer(None, "Draw bigger.")
    assert decide({"fnn_updated": sure, "cnn_updated": sure}).digit == 4
