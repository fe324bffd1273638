"""DMDConfig: validation names the field and its allowed values; hashing is stable."""

import pytest

from dmdlab import DMDConfig
from dmdlab.config import parse_field_value


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(dim=0), "dim"),
        (dict(dim=-3), "dim"),
        (dict(n_modes=0), "n_modes"),
        (dict(mode_std=0.0), "mode_std"),
        (dict(teacher="gan"), "teacher"),
        (dict(init="zeros"), "init"),
        (dict(matmul_dtype="float16"), "matmul_dtype"),
        (dict(steps=100, eval_every=30), "eval_every"),
        (dict(intrinsic_dim=20, dim=8), "intrinsic_dim"),
        (dict(fake_ratio=0), "fake_ratio"),
        (dict(generator_lr=-1.0), "generator_lr"),
        (dict(gan_weight=-0.1), "gan_weight"),
        (dict(student_sigma_min=100.0), "student_sigma_min"),
        (dict(dim=2.5), "dim"),
        (dict(normalize="yes"), "normalize"),
    ],
)
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        DMDConfig(**changes)


def test_choices_are_listed_in_the_error():
    with pytest.raises(ValueError, match="'network' \\| 'oracle' \\| 'memorizing'"):
        DMDConfig(teacher="gan")


def test_replace_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown DMDConfig field"):
        DMDConfig().replace(dimension=3)


def test_hash_is_stable_and_content_based():
    a, b = DMDConfig(dim=16), DMDConfig(dim=16)
    assert a.hash() == b.hash() and len(a.hash()) == 12
    assert a.hash() != a.replace(dim=32).hash()
    assert DMDConfig.from_dict(a.to_dict()) == a
    # learning rates are dynamic: they do not change the compiled program's key
    assert a.static_part() == a.replace(generator_lr=5e-4).static_part()
    assert a.static_part() != a.replace(fake_ratio=3).static_part()
    # loss weights too, but a term's on/off is structure
    gan = a.replace(gan_weight=3e-3)
    assert gan.static_part() == a.replace(gan_weight=3e-2, gan_disc_weight=1.0).static_part()
    assert gan.static_part() != a.static_part()
    assert a.replace(regression_weight=0.5).static_part() != a.static_part()


def test_hyperparams_are_the_dynamic_fields():
    from dmdlab.config import DYNAMIC_FIELDS
    from dmdlab.method import Hyperparams

    assert Hyperparams._fields == DYNAMIC_FIELDS
    hp = Hyperparams.of(DMDConfig(gan_weight=3e-3))
    assert float(hp.gan_weight) == pytest.approx(3e-3)


def test_parse_field_value_by_type_never_eval():
    assert parse_field_value("dim", "32") == 32
    assert parse_field_value("gan_weight", "3e-3") == 3e-3
    assert parse_field_value("normalize", "false") is False
    assert parse_field_value("intrinsic_dim", "none") is None
    assert parse_field_value("teacher", "oracle") == "oracle"
    with pytest.raises(ValueError, match="'dim' expects int"):
        parse_field_value("dim", "__import__('os')")
    with pytest.raises(ValueError, match="unknown field 'dimm'"):
        parse_field_value("dimm", "3")


def test_every_field_explains_itself_in_help():
    from dmdlab.config import CHOICES, FIELD_DOCS, field_help, field_names

    assert sorted(FIELD_DOCS) == sorted(field_names())  # one line per field, none stale
    assert "[ve | flow]" in field_help("parametrization")
    assert all(f"[{' | '.join(v)}]" in field_help(k) for k, v in CHOICES.items())
