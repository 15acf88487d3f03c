"""The email stage without a server: recipients file, addresses, messages, the send log."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from reportgen.deliver import mail
from reportgen.errors import ConfigError

SEGMENTS = (
    mail.RunSegment(
        1, "Premium-savers", "premium-savers", 78, 0.527, "want to save", "Lead with price."
    ),
    mail.RunSegment(
        2, "Agent-seekers", "agent-seekers", 70, 0.473, "want an agent", "Lead with people."
    ),
)


def run_briefs(segments=SEGMENTS, title="Insurance customers") -> mail.RunSummary:
    return mail.RunSummary(
        folder=Path("."),
        title=title,
        generated_at="2025-11-28T00:00:00Z",
        n_kept=148,
        run_hash="0" * 64,
        segments=segments,
    )


# --- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "cmo@example.com",
        "first.last+tag@mail.example.co.uk",
        "o'brien@example.org",
        "x@sub-domain.example.com",
    ],
)
def test_valid_addresses(address):
    assert mail.check_address(address) == address


def test_domain_is_lower_cased_local_part_kept():
    assert mail.check_address("  Pat.Doe@Example.COM ") == "Pat.Doe@example.com"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plainaddress",
        "@example.com",
        "me@",
        "me@localhost",
        "me@example..com",
        "me@-example.com",
        "a..b@example.com",
        ".ab@example.com",
        "me@exa mple.com",
        "Pat <pat@example.com>",
        "pat@example.com\r\nBcc: evil@example.net",
        "pat@example.com,evil@example.net",
        42,
        None,
        ["pat@example.com"],
        "x" * 65 + "@example.com",
        "pät@example.com",
    ],
)
def test_invalid_addresses(address):
    with pytest.raises(ValueError):
        mail.check_address(address)


# --- recipients file ---------------------------------------------------------------------------


def test_recipients_by_name_id_slug_and_case():
    r = mail.parse_recipients(
        {
            "overview": ["cmo@example.com"],
            "segments": {"premium-SAVERS": ["pricing@example.com"], 2: "agency@example.com"},
        },
        run_briefs(),
    )
    assert r.overview == ("cmo@example.com",)
    assert r.segments == ((1, ("pricing@example.com",)), (2, ("agency@example.com",)))
    by_string_id = mail.parse_recipients({"segments": {"2": ["a@example.com"]}}, run_briefs())
    assert by_string_id.segments == ((2, ("a@example.com",)),)


def test_duplicate_addresses_are_sent_once():
    r = mail.parse_recipients({"overview": ["a@example.com", "A@EXAMPLE.com"]}, run_briefs())
    assert r.overview == ("a@example.com",)


def test_every_problem_is_reported_at_once():
    with pytest.raises(mail.MailError) as err:
        mail.parse_recipients(
            {
                "overview": ["not-an-address"],
                "extra": 1,
                "segments": {"Bargain-hunters": ["a@example.com"], "Agent-seekers": ["b@"]},
            },
            run_briefs(),
        )
    message = str(err.value)
    assert "'not-an-address'" in message
    assert "unknown key(s) extra" in message
    assert "unknown segment 'Bargain-hunters'" in message and "1 Premium-savers" in message
    assert "'b@'" in message and "Agent-seekers" in message
    assert "\n" not in message
    assert err.value.exit_code == 2


@pytest.mark.parametrize("data", [None, [], "cmo@example.com", {"overview": []}, {"segments": {}}])
def test_nobody_to_send_to_is_an_error(data):
    with pytest.raises(mail.MailError):
        mail.parse_recipients(data, run_briefs())


def test_segment_listed_twice_is_an_error():
    with pytest.raises(mail.MailError, match="more than once"):
        mail.parse_recipients(
            {"segments": {"Agent-seekers": ["a@example.com"], 2: ["b@example.com"]}}, run_briefs()
        )


def test_read_recipients_reports_yaml_errors(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("overview: [a@example.com\n")
    with pytest.raises(mail.MailError, match="not valid YAML"):
        mail.read_recipients(path, run_briefs())
    with pytest.raises(mail.MailError, match="cannot read"):
        mail.read_recipients(tmp_path / "missing.yaml", run_briefs())


# --- run folder --------------------------------------------------------------------------------


def test_load_run_refuses_an_unsafe_slug(tmp_path):
    summary = {
        "title": "t",
        "generated_at": "2025-11-28T00:00:00Z",
        "rows": {"kept": 3},
        "segments": [
            {
                "id": 1,
                "name": "x",
                "slug": "../../etc/passwd",
                "size": 3,
                "share": 1.0,
                "headline": "h",
                "angle": "a",
            }
        ],
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(mail.MailError, match="unsafe slug"):
        mail.load_run(tmp_path)


def test_load_run_needs_a_summary(tmp_path):
    with pytest.raises(mail.MailError, match="no summary.json"):
        mail.load_run(tmp_path)


# --- settings ----------------------------------------------------------------------------------


def config(**kw) -> mail.EmailConfig:
    return mail.EmailConfig(
        **{"run_dir": ".", "recipients_path": "r.yaml", "sender": "briefs@example.com", **kw}
    )


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"subject": "Hi\r\nBcc: evil@example.net"}, "one non-empty line"),
        ({"subject": "  "}, "one non-empty line"),
        ({"sender": "briefs@example.com\nBcc: x@example.net"}, "--from"),
        ({"smtp_user": "u", "password": "p"}, "never sent unencrypted"),
        ({"smtp_user": "u", "security": "starttls"}, "REPORTGEN_SMTP_PASSWORD"),
        ({"smtp_port": 0}, "--smtp-port"),
        ({"smtp_host": "mail.example.com\r\n"}, "--smtp-host"),
        ({"cafile": "/nonexistent/ca.pem"}, "CA file not found"),
    ],
)
def test_bad_settings_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        config(**kw)


def test_password_never_in_repr():
    c = config(smtp_user="u", password="s3cret-Pa55", security="ssl")
    assert "s3cret-Pa55" not in repr(c)
    assert c.port == 465
    assert config(security="starttls").port == 587
    assert config().port == 25


def test_errors_never_echo_the_password():
    secrets = ("hunter2-long",)
    import smtplib

    auth = smtplib.SMTPAuthenticationError(535, b"bad credentials for hunter2-long")
    assert "hunter2-long" not in mail.describe_error(auth, secrets)
    echoed = smtplib.SMTPResponseException(501, b"cannot decode AHJlcG9ydGVyAGh1bnRlcjItbG9uZw==")
    text = mail.describe_error(echoed, secrets)
    assert "AHJlcG9ydGVy" not in text and text.startswith("server said 501")


# --- messages ----------------------------------------------------------------------------------


def delivery(segment=None) -> mail.Delivery:
    return mail.Delivery(
        key="k" * 32,
        label=segment.name if segment else "overview",
        segment=segment,
        recipients=("a@example.com",),
        attachment="brief.pdf",
        pdf=b"%PDF-1.7\n%fake\n",
    )


def test_message_structure_and_headers():
    msg = mail.build_message(
        delivery(SEGMENTS[0]),
        run_briefs(),
        ("a@example.com", "b@example.com"),
        "briefs@example.com",
    )
    parsed = message_from_bytes(bytes(msg), policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed["To"] == "a@example.com, b@example.com"
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["Date"]
    assert parsed["Subject"] == (
        "Segment brief: Premium-savers · Insurance customers (28 November 2025)"
    )
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    for body in (text, html):
        assert "78 of 148 (53 %)" in body and "want to save" in body and "Lead with price." in body
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "premium-savers.pdf"
    assert attachment.get_content().startswith(b"%PDF")


def test_overview_lists_every_segment():
    parsed = message_from_bytes(
        bytes(
            mail.build_message(delivery(), run_briefs(), ("a@example.com",), "briefs@example.com")
        ),
        policy=policy.default,
    )
    text = parsed.get_body(("plain",)).get_content()
    assert "Premium-savers" in text and "Agent-seekers" in text and "Lead with people." in text
    assert parsed["Subject"] == "Segment brief: Insurance customers (28 November 2025)"


def test_untrusted_names_are_escaped_and_kept_out_of_header_lines():
    evil = mail.RunSegment(
        1,
        "<img src=x onerror=alert(1)>\r\nBcc: evil@example.net",
        "evil",
        5,
        1.0,
        "a & b",
        "<b>angle</b>",
    )
    msg = mail.build_message(
        delivery(evil),
        run_briefs((evil,), title="T\nX-Evil: 1"),
        ("a@example.com",),
        "briefs@example.com",
    )
    raw = bytes(msg)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert "\n" not in parsed["Subject"]
    html = parsed.get_body(("html",)).get_content()
    assert "<img" not in html and "&lt;img src=x" in html
    assert "<b>angle</b>" not in html and "a &amp; b" in html


def test_subject_option_fills_in_and_names_the_segment():
    d = delivery(SEGMENTS[1])
    assert (
        mail.subject_for(d, run_briefs(), "Monthly brief {date}")
        == "Monthly brief 28 November 2025 · Agent-seekers"
    )
    assert (
        mail.subject_for(d, run_briefs(), "{segment}: {title}")
        == "Agent-seekers: Insurance customers"
    )
    # A template is text, never a format string that could reach attributes.
    assert (
        mail.subject_for(d, run_briefs(), "{0.__class__} {segment}")
        == "{0.__class__} Agent-seekers"
    )


# --- send log ----------------------------------------------------------------------------------


def test_send_log_survives_a_torn_last_line(tmp_path):
    log = mail.SendLog(tmp_path / mail.SEND_LOG)
    assert log.delivered() == {}
    log.append({"status": "sent", "key": "k1", "to": ["A@example.com"]})
    with open(log.path, "a") as fh:
        fh.write('{"status": "sent", "key": "k2", "to": ["b@exa')  # crash mid-write
    assert log.delivered() == {"k1": {"a@example.com"}}
    log.append({"status": "sent", "key": "k3", "to": ["c@example.com"]})
    assert log.delivered() == {"k1": {"a@example.com"}, "k3": {"c@example.com"}}
    assert log.path.read_text().count("\n") == 3


def test_only_one_sender_per_run_folder(tmp_path):
    log = mail.SendLog(tmp_path / mail.SEND_LOG)
    with log.locked(), pytest.raises(mail.MailError, match="another"), log.locked():
        pass


def test_a_read_only_run_folder_is_refused_before_sending(tmp_path):
    log = mail.SendLog(tmp_path / "missing-folder" / mail.SEND_LOG)
    with pytest.raises(mail.MailError, match="cannot write the send log"), log.locked():
        pass


def test_an_order_log_runs_mail_carries_each_segments_revenue_share():
    from dataclasses import replace

    segments = (replace(SEGMENTS[0], revenue_share=0.81), replace(SEGMENTS[1], revenue_share=0.19))
    run = run_briefs(segments)
    body = mail.text_body(delivery(), run)
    assert "81 % of net revenue" in body and "19 % of net revenue" in body
    assert "81 % of net revenue" in mail.text_body(delivery(segments[0]), run)
    assert "of net revenue" not in mail.text_body(delivery(), run_briefs())
