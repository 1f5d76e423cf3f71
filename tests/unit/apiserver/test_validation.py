"""Built-in kinds are defaulted and validated with Kubernetes' messages."""

from __future__ import annotations

import pytest

from hyperpod.apiserver.validation import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
)


@pytest.mark.parametrize("name", ["a", "my-name", "123-abc", "a" * 63])
def test_valid_dns1123_labels_have_no_errors(name: str) -> None:
    assert is_dns1123_label(name) == []


@pytest.mark.parametrize("name", ["", "A", "-a", "a-", "a.b", "a_b", "a" * 64, "a\n"])
def test_invalid_dns1123_labels_get_the_kubernetes_message(name: str) -> None:
    errs = is_dns1123_label(name)
    assert errs
    if len(name) > 63:
        assert errs[0] == "must be no more than 63 characters"
    else:
        assert errs[0].startswith("a lowercase RFC 1123 label must consist of")
        assert "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'" in errs[0]


def test_dns1123_subdomains_allow_dots_up_to_253_characters() -> None:
    assert is_dns1123_subdomain("example.com") == []
    assert is_dns1123_subdomain("a." * 126 + "a") == []
    assert is_dns1123_subdomain("a" * 254)[0] == "must be no more than 253 characters"
    msg = is_dns1123_subdomain("Example.com")[0]
    assert msg.startswith("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric")
    assert "(e.g. 'example.com', regex used" in msg


def test_dns1035_labels_must_start_with_a_letter() -> None:
    assert is_dns1035_label("my-name") == []
    assert is_dns1035_label("1abc")[0].startswith("a DNS-1035 label must consist of")


@pytest.mark.parametrize("key", ["app", "example.com/app", "App_1.x", "k8s.io/a-b"])
def test_valid_qualified_names_have_no_errors(key: str) -> None:
    assert is_qualified_name(key) == []


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "name part must be non-empty"),
        ("/a", "prefix part must be non-empty"),
        ("Bad_Prefix/a", "prefix part a lowercase RFC 1123 subdomain"),
        ("a/b/c", "with an optional DNS subdomain prefix and '/'"),
        ("-a", "name part must consist of alphanumeric characters"),
        ("a" * 64, "name part must be no more than 63 characters"),
    ],
)
def test_invalid_qualified_names_say_which_part_is_wrong(key: str, fragment: str) -> None:
    assert any(fragment in e for e in is_qualified_name(key))


def test_label_values_may_be_empty_but_not_malformed() -> None:
    assert is_valid_label_value("") == []
    assert is_valid_label_value("my_value.1") == []
    assert is_valid_label_value("a b")[0].startswith("a valid label must be an empty string")
    assert is_valid_label_value("a" * 64)[0] == "must be no more than 63 characters"
