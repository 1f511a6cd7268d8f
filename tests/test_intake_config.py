"""The `intake:` section (issue 23's contract): the example parses, and every mistake is refused with its
file, line and key, never quoting a token."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import ConfigError, parse_config
from tests.conftest import PROJECT

BASE = f"""
accounts: [{{name: prod, cloud: huaweicloud, auth: {{type: token, token: "${{T}}"}}}}]
services:
  - {{cloud_service: evs, account: prod, region: cn-north-4, project_id: {PROJECT}, tasks: []}}
"""
URN = f"urn:smn:cn-north-4:{PROJECT}:task-events"


def contract(token_file: Path) -> str:
    """The issue's example, its certificate file a test certificate (never a real one) in the test's directory."""
    from exporter.simulator.push import FakePki

    (token_file.parent / "smn-signing.pem").write_bytes(FakePki.generate().signing_cert_pem)
    return (
        BASE
        + f"""
intake:
  smn:
    topics:
      - urn: {URN}
        account: prod
    certificate_hosts: [smn.cn-north-4.myhuaweicloud.com]
    certificate_files: [{token_file.parent / "smn-signing.pem"}]
    confirm: log
    max_age: 1h
  cloudevents:
    account: prod
    token_header: X-Intake-Token
    token_file: {token_file}
"""
    )


def test_the_contracts_example_parses(tmp_path: Path) -> None:
    token = tmp_path / "intake-token"
    token.write_text("s3cret-intake-token", encoding="utf-8")
    config = parse_config(contract(token), env={"T": "t"})
    intake = config.intake
    assert intake.enabled and intake.smn is not None and intake.cloudevents is not None
    (topic,) = intake.smn.topics
    assert (topic.urn, topic.account, topic.region, topic.project_id) == (URN, "prod", "cn-north-4", PROJECT)
    assert intake.smn.certificate_hosts == ("smn.cn-north-4.myhuaweicloud.com",)
    assert intake.smn.confirm == "log" and intake.smn.max_age == 3600
    assert intake.cloudevents.token_header == "X-Intake-Token"
    assert intake.cloudevents.token.reveal() == "s3cret-intake-token"
    assert "s3cret" not in repr(config)


def test_no_intake_section_means_off() -> None:
    config = parse_config(BASE, env={"T": "t"})
    assert not config.intake.enabled


@pytest.mark.parametrize(
    ("intake", "says"),
    [
        ("{smn: {topics: [{urn: 'urn:smn:cn-north-4:nothex:t', account: prod}], certificate_hosts: [h]}}",
         "intake.smn.topics[0].urn: expected an SMN topic URN, urn:smn:<region>:<32-hex project ID>:<topic name>"),
        (f"{{smn: {{topics: [{{urn: '{URN}', account: staging}}], certificate_hosts: [h]}}}}",
         "intake.smn.topics[0].account: no account named 'staging' in 'accounts' (known: prod)"),
        ("{smn: {topics: [], certificate_hosts: [h]}}", "'topics' needs at least one topic"),
        (f"{{smn: {{topics: [{{urn: '{URN}', account: prod}}]}}}}",
         "give 'certificate_hosts' (where signing certificates may be fetched over HTTPS) or 'certificate_files'"),
        (f"{{smn: {{topics: [{{urn: '{URN}', account: prod}}], certificate_hosts: ['https://smn.x']}}}}",
         "intake.smn.certificate_hosts[0]: expected an HTTPS host name (host or host:port)"),
        (f"{{smn: {{topics: [{{urn: '{URN}', account: prod}}], certificate_hosts: [h], confirm: maybe}}}}",
         "intake.smn.confirm: expected one of log, auto"),
        (f"{{smn: {{topics: [{{urn: '{URN}', account: prod}}], certificate_hosts: [h], max_age: 0}}}}",
         "intake.smn.max_age: expected a number from 1 to 604800"),
        (f"{{smn: {{topics: [{{urn: '{URN}', acount: prod}}], certificate_hosts: [h]}}}}",
         "unknown key 'acount'; did you mean 'account'?"),
        ("{cloudevents: {account: prod, token_header: X-Intake-Token}}",
         "missing required key 'token' (or 'token_file')"),
        ("{cloudevents: {account: prod, token_header: 'X Token', token: '${T}'}}",
         "intake.cloudevents.token_header: expected an HTTP header name"),
        ("{max_body_size: 10}", "intake.max_body_size: expected a number from 1024 to"),
        ("{smm: {}}", "unknown key 'smm'; did you mean 'smn'?"),
        (f"{{smn: {{topics: [{{urn: '{URN}', account: prod}}], certificate_files: [f], confirm: auto}}}}",
         "intake.smn.confirm: confirm: auto GETs a subscribe_url only on a 'certificate_hosts' host, and none is "
         "given: add the host SMN's subscribe_url names"),
    ],
)  # fmt: skip
def test_mistakes_are_refused_with_their_key(intake: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + f"intake: {intake}\n", file="/etc/exporter/config.yaml", env={"T": "t"})
    assert says in str(caught.value)
    assert "/etc/exporter/config.yaml" in str(caught.value)


def test_a_token_is_never_quoted_in_an_error() -> None:
    text = BASE + "intake: {cloudevents: {account: prod, token_header: X-T, token: 'with space-s3cret'}}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={"T": "t"})
    assert "s3cret" not in str(caught.value)


def test_certificate_files_and_the_ca_file_are_read_when_the_config_is(tmp_path: Path) -> None:
    missing = tmp_path / "smn-signing.pem"
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", encoding="utf-8")
    for files, says in (
        (f"certificate_files: [{missing}]", f"intake.smn.certificate_files: {missing}: cannot read the certificate"),
        (f"certificate_files: [{junk}]", f"intake.smn.certificate_files: {junk}: not an X.509 certificate"),
        (f"certificate_hosts: [h], ca_file: {junk}", f"intake.smn.ca_file: {junk}: cannot read the CA bundle"),
    ):
        text = BASE + f"intake: {{smn: {{topics: [{{urn: '{URN}', account: prod}}], {files}}}}}\n"
        with pytest.raises(ConfigError) as caught:
            parse_config(text, env={"T": "t"})
        assert says in str(caught.value), str(caught.value)


def test_without_secrets_a_missing_certificate_file_is_noted_not_failed(tmp_path: Path) -> None:
    from exporter.schema import WithoutSecrets

    text = BASE + f"intake: {{smn: {{topics: [{{urn: '{URN}', account: prod}}], certificate_files: [/nowhere.pem]}}}}\n"
    env = WithoutSecrets({"T": "t"})
    config = parse_config(text, env=env)
    assert config.intake.smn is not None
    assert any("/nowhere.pem: cannot read the certificate" in note for note in env.notes)


def test_where_the_record_sits_is_a_pointer_per_door_and_per_cloudevents_source() -> None:
    intake = """
intake:
  smn: {topics: [{urn: URN, account: prod}], certificate_hosts: [h], record: /detail/trace}
  cloudevents:
    account: prod
    token_header: X-T
    token: "${T}"
    record: /trace
    records: {HC.CTS: "", HC.EVS: /detail/a~1b}
""".replace("URN", URN)
    config = parse_config(BASE + intake, env={"T": "t"})
    assert config.intake.smn is not None and config.intake.smn.record == ("detail", "trace")
    events = config.intake.cloudevents
    assert events is not None
    assert events.record_of("HC.CTS") == () and events.record_of("HC.EVS") == ("detail", "a/b")
    assert events.record_of("HC.OBS") == ("trace",)
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + intake.replace("record: /trace", "record: trace"), env={"T": "t"})
    assert 'intake.cloudevents.record: expected a JSON pointer ("" for the whole, or /field/...)' in str(caught.value)
