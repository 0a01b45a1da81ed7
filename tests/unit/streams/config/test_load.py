"""A configuration file checked whole: each kind of misconfiguration fails at start, named by
its dotted field, with a reason a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from learners.errors import ConfigError
from learners.feature_spec import DEFAULT_FEATURES
from streams.config import load_config

CLICK = """
[models.click]
objective = "engagement"
label = "click"
model = { factory = "river.linear_model:LogisticRegression" }
"""
QUALITY = """
[models.quality]
label = "rating"
model = { factory = "learners.ftrl:FTRLLogisticRegression", params = { alpha = 0.1 } }
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "adstream.toml"
    path.write_text(text)
    return str(path)


def refused(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    return error.value


def test_a_small_file_takes_the_rest_from_the_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CLICK + QUALITY))
    assert list(config.models) == ["click", "quality"]
    click, quality = config.models.values()
    assert (click.objective, click.label, click.features) == ("engagement", "click", "default")
    assert (quality.objective, quality.label) == ("quality", "rating")  # objective: the name
    assert click.model == {"factory": "river.linear_model:LogisticRegression", "params": {}}
    assert config.features == {"default": DEFAULT_FEATURES}
    assert config.category == load_config(None).category
    assert config.allow == ()
    assert config.path == str(tmp_path / "adstream.toml")


def test_a_dotted_factory_is_normalized(tmp_path: Path) -> None:
    text = CLICK.replace("river.linear_model:LogisticRegression", "river.linear_model.Perceptron")
    config = load_config(write(tmp_path, text + QUALITY))
    assert config.models["click"].model["factory"] == "river.linear_model:Perceptron"


def test_feature_sets_hash_to_the_settings_width_unless_they_name_one(tmp_path: Path) -> None:
    text = CLICK + QUALITY + "[features.narrow]\nn_bits = 12\n"
    config = load_config(write(tmp_path, text), settings_n_bits=18)
    assert config.features["default"].n_bits == 18
    assert config.features["narrow"].n_bits == 12


MISCONFIGURATIONS = {
    "unknown table": (
        "[model.click]\nlabel = 'click'\n",
        "model",
        "unknown table; known: settings, modules, features, models, category",
    ),
    "unknown model key": (
        CLICK + "featurs = 'default'\n" + QUALITY,
        "models.click.featurs",
        "unknown key; known: objective, label, features, model",
    ),
    "unknown spec key": (
        CLICK.replace("model = {", "model = { param = 1,") + QUALITY,
        "models.click.model.param",
        "unknown key; known: factory, params, steps",
    ),
    "module not importable": (
        CLICK.replace("river.linear_model:", "river.linear_models:") + QUALITY,
        "models.click.model.factory",
        "module 'river.linear_models' cannot be imported: No module named",
    ),
    "no such estimator": (
        CLICK.replace("LogisticRegression", "LogisticRegresion") + QUALITY,
        "models.click.model.factory",
        "no estimator 'LogisticRegresion' in river.linear_model; did you mean LogisticRegression",
    ),
    "module outside the allow-list": (
        CLICK.replace("river.linear_model:LogisticRegression", "sklearn.linear_model:SGD")
        + QUALITY,
        "models.click.model.factory",
        "module 'sklearn.linear_model' is not on the allow-list (river, learners): add it to "
        "[modules] allow",
    ),
    "a factory that is not module:Class": (
        CLICK.replace("river.linear_model:LogisticRegression", "LogisticRegression") + QUALITY,
        "models.click.model.factory",
        'a factory is "module:Class"',
    ),
    "a parameter the factory does not take": (
        QUALITY.replace("alpha = 0.1", "alpah = 0.1") + CLICK,
        "models.quality.model.params.alpah",
        "FTRLLogisticRegression takes no parameter 'alpah'; it takes: alpha, beta, l1, l2",
    ),
    "a nested parameter the factory does not take": (
        CLICK.replace(
            '"river.linear_model:LogisticRegression" }',
            '"river.linear_model:LogisticRegression", params = { optimizer = '
            '{ factory = "river.optim:SGD", params = { learning_rate = 0.1 } } } }',
        )
        + QUALITY,
        "models.click.model.params.optimizer.params.learning_rate",
        "SGD takes no parameter 'learning_rate'; it takes: lr",
    ),
    "a value the factory refuses": (
        QUALITY.replace("alpha = 0.1", "alpha = -1.0") + CLICK,
        "models.quality.model.params",
        "FTRLLogisticRegression refused its parameters: ValueError: alpha",
    ),
    "a regressor where a classifier is needed": (
        CLICK.replace("LogisticRegression", "LinearRegression") + QUALITY,
        "models.click.model",
        "LinearRegression is a regressor where a classifier is needed: label 'click'",
    ),
    "a regressor as the category base": (
        CLICK + QUALITY + "[category.base]\nfactory = 'river.linear_model:LinearRegression'\n",
        "category.base",
        "LinearRegression is a regressor where a classifier is needed",
    ),
    "not a classifier or a regressor": (
        QUALITY.replace(
            '"learners.ftrl:FTRLLogisticRegression", params = { alpha = 0.1 }',
            '"river.preprocessing:StandardScaler"',
        )
        + CLICK,
        "models.quality.model",
        "StandardScaler is a transformer, neither a classifier nor a regressor: label 'rating' "
        "takes a River regressor or a classifier",
    ),
    "not a River estimator": (
        CLICK.replace("river.linear_model:LogisticRegression", "river.datasets:Phishing") + QUALITY,
        "models.click.model",
        "Phishing is not a River estimator: label 'click' learns clicked or not: use a classifier",
    ),
    "a private name": (
        CLICK.replace("river.linear_model:LogisticRegression", "river.linear_model:__class__")
        + QUALITY,
        "models.click.model.factory",
        "no estimator '__class__' in river.linear_model",
    ),
    "not a class": (
        CLICK.replace("river.linear_model:LogisticRegression", "river.datasets:synth") + QUALITY,
        "models.click.model.factory",
        "river.datasets:synth is not a class",
    ),
    "steps on something that is not a pipeline": (
        CLICK.replace("model = {", "model = { steps = [],") + QUALITY,
        "models.click.model.steps",
        "only a pipeline (river.compose:Pipeline) takes steps",
    ),
    "an unknown feature set": (
        CLICK + "features = 'numeric'\n" + QUALITY,
        "models.click.features",
        "unknown feature set 'numeric'; known: default (define it as [features.numeric])",
    ),
    "a bad feature attribute": (
        CLICK
        + QUALITY
        + "[features.default]\n"
        + "attributes = [{ source = 'context', name = 'x', kind = 'number' }]\n",
        "features.default.attributes[0].kind",
        "unknown kind 'number'",
    ),
    "an unknown label": (
        CLICK.replace('label = "click"', 'label = "clicks"') + QUALITY,
        "models.click.label",
        "unknown label 'clicks'; known: click (clicked / not clicked: needs a classifier)",
    ),
    "no label": (
        CLICK.replace('label = "click"', "") + QUALITY,
        "models.click.label",
        "missing; known: click",
    ),
    "no model for a ranked objective": (
        CLICK,
        "models",
        "no model has objective 'quality': rank combines the 'engagement' and 'quality' scores",
    ),
    "two models for one objective": (
        CLICK + QUALITY + CLICK.replace("models.click", "models.ctr"),
        "models.ctr.objective",
        "objective 'engagement' is already models.click's: each objective is scored by one model",
    ),
    "the category model's name": (
        CLICK + QUALITY + CLICK.replace("models.click", "models.category"),
        "models.category",
        "'category' is the category model's name",
    ),
    "a setting of the wrong type": (
        CLICK + QUALITY + "[settings]\npartitions = 'four'\n",
        "settings.partitions",
        "expected an integer, got a string 'four'",
    ),
    "a setting out of range": (
        CLICK + QUALITY + "[settings]\npartitions = 0\n",
        "settings",
        "partitions must be >= 1",
    ),
    "a model that fails its trial": (  # MultinomialNB takes no weight: it cannot learn here
        CLICK.replace("river.linear_model:LogisticRegression", "river.naive_bayes:MultinomialNB")
        + QUALITY,
        "models.click.model",
        "failed its trial (one example of feature set 'default', learned then scored): "
        "TypeError: MultinomialNB.learn_one() got an unexpected keyword argument 'w'",
    ),
    "a pipeline that cannot take the features": (  # BagOfWords reads text, not features
        CLICK.replace(
            'model = { factory = "river.linear_model:LogisticRegression" }',
            '[models.click.model]\nfactory = "river.compose:Pipeline"\n'
            'steps = [{ factory = "river.feature_extraction:BagOfWords" }, '
            '{ factory = "river.linear_model:LogisticRegression" }]',
        )
        + QUALITY,
        "models.click.model",
        "failed its trial",
    ),
    "a category base that fails its trial": (
        CLICK
        + QUALITY
        + '[category.base]\nfactory = "river.compose:Pipeline"\n'
        + 'steps = [{ factory = "river.feature_extraction:BagOfWords" }, '
        + '{ factory = "river.linear_model:LogisticRegression" }]\n',
        "category.base",
        "failed its trial (one query's category learned, then predicted): AttributeError",
    ),
}


@pytest.mark.parametrize(
    ("text", "field", "reason"), MISCONFIGURATIONS.values(), ids=list(MISCONFIGURATIONS)
)
def test_a_misconfiguration_is_named_with_its_reason(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    error = refused(tmp_path, text)
    assert error.field == field
    assert reason in error.reason, error.reason


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    error = refused(tmp_path, CLICK + QUALITY + "[category\n")
    assert error.field == f"{tmp_path / 'adstream.toml'}:{(CLICK + QUALITY).count(chr(10)) + 1}"
    assert error.reason.startswith("not TOML")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(str(tmp_path / "absent.toml"))


LAB = '''
"""A module of the operator's own, outside river and learners."""
from river import linear_model


class Tuned(linear_model.LogisticRegression):
    """River's logistic regression, under another name."""
'''


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package ``mylab`` with a classifier, importable for the test's duration."""
    package = tmp_path / "lab" / "mylab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(LAB)
    monkeypatch.syspath_prepend(str(tmp_path / "lab"))
    return CLICK.replace("river.linear_model:LogisticRegression", "mylab.models:Tuned") + QUALITY


def test_a_module_of_ones_own_needs_the_allow_list(tmp_path: Path, lab: str) -> None:
    error = refused(tmp_path, lab)
    assert (error.field, "not on the allow-list" in error.reason) == (
        "models.click.model.factory",
        True,
    )
    config = load_config(write(tmp_path, lab + "[modules]\nallow = ['mylab']\n"))
    assert config.allow == ("mylab",)
    assert config.models["click"].model["factory"] == "mylab.models:Tuned"


@pytest.mark.parametrize(
    ("allow", "field", "reason"),
    [
        ("allow = 'mylab'", "modules.allow", "an array of module names, got a string"),
        ("allow = ['my lab']", "modules.allow[0]", "a module or package name"),
        ("deny = []", "modules.deny", "unknown key; known: allow"),
    ],
)
def test_a_bad_allow_list_is_named(tmp_path: Path, allow: str, field: str, reason: str) -> None:
    error = refused(tmp_path, CLICK + QUALITY + f"[modules]\n{allow}\n")
    assert (error.field, reason in error.reason) == (field, True)
