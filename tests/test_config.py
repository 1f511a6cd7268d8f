"""Configuration: the documented shape parses; every mistake a user can make gets a message naming
the file, the key path and the line, and saying what is expected."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import structlog.testing

from exporter.config import Config, ConfigError, Secret, SecretError, load_config, parse_config
from exporter.services import BUILTIN
from tests.conftest import EVS_TASK, MINIMAL, PROJECT, Writer


def reveal(secret: Secret | None) -> str:
    assert secret is not None
    return secret.reveal()


ROOT = Path(__file__).resolve().parent.parent


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="c.yaml", env={"HWC_TOKEN": "t"} if env is None else env)
    return str(caught.value)


def test_minimal_config(config: Config) -> None:
    (target,) = config.targets
    assert target.key == ("prod", "evs", "cn-north-4", PROJECT)
    assert target.endpoint == "https://evs.cn-north-4.myhuaweicloud.com"
    assert target.tasks == (EVS_TASK,)
    assert target.time_zone is UTC
    assert reveal(config.accounts["prod"].auth.token) == "token-value-from-env"
    assert config.scrape.concurrency == 32


def test_otc_endpoint_template_and_override() -> None:
    text = f"""
accounts: [{{name: t, cloud: otc, auth: {{type: token, token: "${{HWC_TOKEN}}"}}}}]
services:
  - {{cloud_service: dws, account: t, region: eu-de, project_id: {PROJECT}, time_zone: "+08:00"}}
  - {{cloud_service: evs, account: t, region: eu-nl, project_id: {PROJECT}, endpoint: "http://127.0.0.1:8080/"}}
"""
    dws, evs = parse_config(text, env={"HWC_TOKEN": "t"}).targets
    assert dws.endpoint == "https://dws.eu-de.otc.t-systems.com"
    assert dws.time_zone.utcoffset(None) == timedelta(hours=8)
    assert evs.endpoint == "http://127.0.0.1:8080"


def test_example_config_passes_config_check() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(ROOT / "config.example.yaml"), "--config.check"],
        capture_output=True,
        text=True,
        env={
            "HWC_TOKEN": "t",
            "HWC_PASSWORD": "x",
            "HWC_ACCESS_KEY": "AKEXAMPLE",
            "HWC_SECRET_KEY": "sk",
            "PATH": "/usr/bin",
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_config_check_without_secrets_lists_what_it_could_not_read(write: Writer, tmp_path: Path) -> None:
    """For CI, where the secrets are not: unset variables and unreadable secret files are listed, the
    rest is checked as usual (and a real mistake still fails)."""
    missing = tmp_path / "no-such-secret"
    text = MINIMAL.replace(
        "type: token\n      token: ${HWC_TOKEN}",
        f"type: aksk\n      access_key: ${{HWC_ACCESS_KEY}}\n      secret_key_file: {missing}",
    )
    path = write("ci.yaml", text)

    def check(*flags: str, config: Path = path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "exporter", "--config.file", str(config), "--config.check", *flags]
        return subprocess.run(command, capture_output=True, text=True, env={"PATH": "/usr/bin"}, check=False)

    strict = check()
    assert strict.returncode == 1
    assert strict.stderr == (
        f"invalid configuration: {path}:6: accounts[0].auth.access_key: environment variable HWC_ACCESS_KEY is not "
        "set: set it where the exporter runs, or put the secret in a file and give its path as 'access_key_file'; "
        "to check the file where the secrets are not (CI), add --config.without-secrets to --config.check\n"
    )
    lenient = check("--config.without-secrets")
    assert lenient.returncode == 0, lenient.stderr
    assert f"not checked: {path}:6: accounts[0].auth.access_key: environment variable HWC_ACCESS_KEY is not set" in (
        lenient.stderr
    )
    assert f"not checked: {path}:7: accounts[0].auth.secret_key_file: cannot read secret file {missing}" in (
        lenient.stderr
    )
    assert "valid (1 accounts, 1 targets, 1 tasks)" in lenient.stdout
    broken = write("broken.yaml", text.replace("region: cn-north-4", "regoin: cn-north-4"))
    still = check("--config.without-secrets", config=broken)
    assert still.returncode == 1 and "unknown key 'regoin'; did you mean 'region'?" in still.stderr
    alone = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path), "--config.without-secrets"],
        capture_output=True, text=True, env={"PATH": "/usr/bin"}, check=False,
    )  # fmt: skip
    assert (alone.returncode, alone.stderr) == (
        2,
        "huaweicloud-task-exporter: --config.without-secrets goes with --config.check\n",
    )


def test_config_check_reports_errors_and_exits_1(write: Writer) -> None:
    path = write("bad.yaml", MINIMAL.replace("region: cn-north-4", "regoin: cn-north-4"))
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(path), "--config.check"],
        capture_output=True,
        text=True,
        env={"HWC_TOKEN": "x", "PATH": "/usr/bin"},
        check=False,
    )
    assert result.returncode == 1
    assert f"{path}:10: services[0].regoin: unknown key 'regoin'; did you mean 'region'?" in result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ("region: cn-north-4", "regoin: cn-north-4"),
            "c.yaml:10: services[0].regoin: unknown key 'regoin'; did you mean 'region'? expected one of: "
            "cloud_service,",
            id="unknown-key",
        ),
        pytest.param(
            ("cloud_service: evs", "cloud_service: nosuch"),
            f"c.yaml:8: services[0].cloud_service: expected one of {', '.join(sorted(BUILTIN))}, got 'nosuch'",
            id="unknown-service",
        ),
        pytest.param(
            ("account: prod\n    region", "account: test\n    region"),
            "c.yaml:9: services[0].account: no account named 'test'; defined: prod",
            id="unknown-account",
        ),
        pytest.param(
            (f"project_id: {PROJECT}", "project_id: my-project"),
            "c.yaml:11: services[0].project_id: expected the IAM project ID (16 to 64 hexadecimal characters, "
            "or a UUID), got 'my-project'",
            id="bad-project-id",
        ),
        pytest.param(
            (f"tasks: [{EVS_TASK}]", "tasks: [../../v3/auth]"),
            "c.yaml:12: services[0].tasks[0]: invalid task ID '../../v3/auth': expected 16 to 64 hexadecimal "
            "characters, or a UUID",
            id="path-traversal-task-id",
        ),
        pytest.param(
            (f"tasks: [{EVS_TASK}]", f"tasks: [{EVS_TASK}, {EVS_TASK}]"),
            f"services[0].tasks[1]: task ID {EVS_TASK} is listed twice",
            id="duplicate-task",
        ),
        pytest.param(
            ("type: token", "type: oauth"),
            # Nothing under auth is quoted: a token pasted into `type` would be.
            "c.yaml:5: accounts[0].auth.type: expected one of token, password, aksk, got a string (not shown: it "
            "may be a secret)",
            id="bad-auth-type",
        ),
        pytest.param(
            ("      token: ${HWC_TOKEN}\n", ""),
            "accounts[0].auth: missing required key 'token' (or 'token_file')",
            id="missing-token",
        ),
        pytest.param(
            ("region: cn-north-4", "region: [cn-north-4]"),
            "c.yaml:10: services[0].region: expected a string, a region such as cn-north-4, got a list",
            id="wrong-type",
        ),
        pytest.param(
            ("services:", "scrape: {concurrency: 0}\nservices:"),
            "c.yaml:7: scrape.concurrency: expected a number from 1 to 1024, got 0",
            id="bad-concurrency",
        ),
        pytest.param(
            ("services:", "scrape: {default_timeout: soon}\nservices:"),
            "scrape.default_timeout: expected a number of seconds or a duration such as 30s, 5m or 1h, got 'soon'",
            id="bad-duration",
        ),
        pytest.param(
            ("region: cn-north-4", "region: cn-north-4\n    time_zone: Mars/Olympus"),
            "services[0].time_zone: expected UTC, an offset such as +08:00, or a zone name such as Asia/Shanghai",
            id="bad-time-zone",
        ),
        pytest.param(
            ("    tasks:", "    endpoint: evs.example.com\n    tasks:"),
            "services[0].endpoint: expected an http:// or https:// URL without query or fragment, "
            "got 'evs.example.com'",
            id="endpoint-without-scheme",
        ),
        pytest.param(
            ("name: prod", "name: prod\n    name: again"),
            "c.yaml:4: duplicate key 'name'",
            id="duplicate-key",
        ),
        pytest.param(
            ("services:", "metrics: {finished_states: none}\nservices:"),
            "c.yaml:7: metrics.finished_states: expected one of all, current, got 'none'",
            id="bad-finished-states",
        ),
        pytest.param(
            ("services:", "metrics: {exclude: [huaweicloud_task_status]}\nservices:"),
            "metrics.exclude[0]: huaweicloud_task_status cannot be excluded: the alerts and dashboards need it",
            id="exclude-status",
        ),
        pytest.param(
            ("services:", "metrics: {exclude: [huaweicloud_task_infos]}\nservices:"),
            "c.yaml:7: metrics.exclude[0]: expected a per-task metric name (huaweicloud_task_info, "
            "huaweicloud_task_progress_ratio,",
            id="exclude-unknown",
        ),
        pytest.param(
            ("services:", "metrics: {exclude: [huaweicloud_task_infos]}\nservices:"),
            "got the string 'huaweicloud_task_infos'; did you mean 'huaweicloud_task_info'?",
            id="exclude-did-you-mean",
        ),
        pytest.param(
            ("services:", "metrics: {include: []}\nservices:"),
            "metrics.include: unknown key 'include'",
            id="metrics-unknown-key",
        ),
    ],
)
def test_config_errors(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in MINIMAL
    assert expected in error_of(MINIMAL.replace(old, new, 1))


def test_invalid_yaml_names_the_line() -> None:
    assert error_of("accounts:\n  - name: [unclosed\n").startswith("c.yaml:3: not valid YAML")


def test_services_not_a_list() -> None:
    text = MINIMAL.split("services:")[0] + "services: {evs: x}\n"
    assert error_of(text) == "c.yaml:7: services: expected a list of service targets, got a mapping"


def test_empty_file() -> None:
    assert error_of("") == "c.yaml: the file is empty: expected 'accounts' and 'services'"


def test_an_unset_variable_says_what_to_do() -> None:
    """Where the value is a secret, its `_file` key is the other way; elsewhere, the value itself."""
    assert error_of(MINIMAL.replace("${HWC_TOKEN}", "${HWC_UNSET}")) == (
        "c.yaml:6: accounts[0].auth.token: environment variable HWC_UNSET is not set: set it where the exporter "
        "runs, or put the secret in a file and give its path as 'token_file'; to check the file where the secrets "
        "are not (CI), add --config.without-secrets to --config.check"
    )
    password = MINIMAL.replace("type: token\n      token: ${HWC_TOKEN}", (
        "type: password\n      user_name: u\n      domain_name: d\n      password: ${HWC_PASSWORD}"
    ))  # fmt: skip
    assert error_of(password).endswith(" or put the secret in a file and give its path as 'password_file'; to "
                                       "check the file where the secrets are not (CI), add --config.without-secrets "
                                       "to --config.check")  # fmt: skip
    endpoint = MINIMAL.replace("    tasks:", "    endpoint: ${EVS_URL}\n    tasks:")
    assert error_of(endpoint) == (
        "c.yaml:12: services[0].endpoint: environment variable EVS_URL is not set: set it where the exporter runs, "
        "or write the value itself (a literal $ is written $$); to check the file where the secrets are not (CI), "
        "add --config.without-secrets to --config.check"
    )


def test_duplicate_target() -> None:
    text = MINIMAL + MINIMAL.split("services:\n")[1]
    assert error_of(text) == (
        f"c.yaml:13: services[1]: the same target (prod/evs/cn-north-4/{PROJECT}) is already defined at line 8 "
        "(services[0]); merge their task lists"
    )


def test_duplicate_account_name_names_the_first_ones_line() -> None:
    text = MINIMAL.replace("services:", "  - name: prod\n    auth: {type: token, token: other}\nservices:")
    assert error_of(text) == (
        "c.yaml:7: accounts[1]: account name 'prod' is used twice, first at line 3 (accounts[0]); rename one of them"
    )


def test_cph_has_no_otc_endpoint() -> None:
    text = MINIMAL.replace("name: prod", "name: prod\n    cloud: otc").replace(
        "cloud_service: evs", "cloud_service: cph"
    )
    assert "cph has no endpoint template for cloud 'otc' (templates: huaweicloud); set 'endpoint'" in error_of(text)


def test_codearts_needs_no_project_id() -> None:
    text = MINIMAL.replace("cloud_service: evs", "cloud_service: codearts_check").replace(
        f"    project_id: {PROJECT}\n", ""
    )
    (target,) = parse_config(text, env={"HWC_TOKEN": "t"}).targets
    assert target.project_id == ""
    assert target.endpoint == "https://codearts-check.cn-north-4.myhuaweicloud.com"


def test_secret_from_file_is_reread_when_it_changes(write: Writer) -> None:
    secret = write("token", "first\n")
    text = MINIMAL.replace("token: ${HWC_TOKEN}", f"token_file: {secret}")
    token = parse_config(text, env={}).accounts["prod"].auth.token
    assert token is not None
    assert token.reveal() == "first"
    secret.write_text("second-and-longer\n", encoding="utf-8")
    assert token.reveal() == "second-and-longer"


def test_missing_secret_file_names_the_file_not_a_value(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    message = error_of(MINIMAL.replace("token: ${HWC_TOKEN}", f"token_file: {missing}"))
    assert f"accounts[0].auth.token_file: cannot read secret file {missing}: No such file or directory" in message


def test_both_secret_and_file_is_an_error() -> None:
    text = MINIMAL.replace("token: ${HWC_TOKEN}", "token: ${HWC_TOKEN}\n      token_file: /x")
    assert "give either 'token' or 'token_file', not both" in error_of(text)


def test_plain_text_secret_is_accepted_with_a_warning_that_hides_it() -> None:
    text = MINIMAL.replace("token: ${HWC_TOKEN}", "token: plain-secret-value")
    with structlog.testing.capture_logs() as logs:
        config = parse_config(text, file="c.yaml", env={})
    assert reveal(config.accounts["prod"].auth.token) == "plain-secret-value"
    (event,) = [e for e in logs if "plain-text secret" in e["event"]]
    assert event["key"] == "accounts[0].auth.token"
    assert "plain-secret-value" not in repr(logs)


def test_secrets_never_show_in_repr(config: Config) -> None:
    assert "token-value-from-env" not in repr(config)
    assert "token-value-from-env" not in f"{config.accounts['prod'].auth.token}"


def test_password_auth_needs_user_and_domain() -> None:
    text = MINIMAL.replace("type: token\n      token: ${HWC_TOKEN}", "type: password\n      password: ${HWC_TOKEN}")
    assert "accounts[0].auth: missing required key 'user_name': expected the IAM user name" in error_of(text)


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read the config file: No such file or directory"):
        load_config(tmp_path / "nope.yaml")


def test_dollar_dollar_escapes_a_literal_dollar() -> None:
    text = MINIMAL.replace("token: ${HWC_TOKEN}", "token: ab$$cd")
    assert reveal(parse_config(text, env={}).accounts["prod"].auth.token) == "ab$cd"


def test_unquoted_all_digit_ids_keep_their_leading_zeros() -> None:
    text = MINIMAL.replace(f"tasks: [{EVS_TASK}]", "tasks: [00000000000000000000000000000001]").replace(
        f"project_id: {PROJECT}", "project_id: 01234567890123456789012345678901"
    )
    (target,) = parse_config(text, env={"HWC_TOKEN": "t"}).targets
    assert target.tasks == ("00000000000000000000000000000001",)
    assert target.project_id == "01234567890123456789012345678901"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (".nan", "scrape.concurrency: expected a number from 1 to 1024, got nan"),
        (".inf", "scrape.concurrency: expected a number from 1 to 1024, got inf"),
        ("9" * 400, "scrape.concurrency: expected a number from 1 to 1024, got 99999999999999999..."),
        ("2.5", "scrape.concurrency: expected a whole number, got 2.5"),
    ],
)
def test_numbers_that_are_not_numbers(value: str, expected: str) -> None:
    assert expected in error_of(MINIMAL + f"scrape: {{concurrency: {value}}}\n")


def test_deeply_nested_yaml_is_an_error_not_a_crash() -> None:
    assert error_of("a: " + "[" * 5000) == "c.yaml: not valid YAML: nested too deeply"


def test_yaml_merge_keys_work() -> None:
    text = MINIMAL.replace(
        "  - cloud_service: evs\n    account: prod\n    region: cn-north-4\n",
        "  - <<: {account: prod, region: cn-north-4}\n    cloud_service: evs\n",
    )
    (target,) = parse_config(text, env={"HWC_TOKEN": "t"}).targets
    assert target.key == ("prod", "evs", "cn-north-4", PROJECT)


def test_metrics_settings_parse() -> None:
    text = MINIMAL.replace(
        "services:", "metrics: {finished_states: current, exclude: [huaweicloud_task_info]}\nservices:", 1
    )
    config = parse_config(text, env={"HWC_TOKEN": "t"})
    assert config.metrics.current_only
    assert config.metrics.exclude == {"huaweicloud_task_info"}
    assert not parse_config(MINIMAL, env={"HWC_TOKEN": "t"}).metrics.current_only


# --- Secrets in error messages: whatever the shape of the mistake, the value is not repeated -------

LEAK = "MIIsecret7Hq2ZpLwN4vXk9RtYb3Jc"  # stands for a token, password or secret key
HIDDEN = "a string (not shown: it may be a secret)"
USER_INFO = "URL user info (user:password@) is not allowed here; put credentials in auth"
NO_SPACE = "credentials have no whitespace"
TOKEN = "      type: token\n      token: ${HWC_TOKEN}\n"


def secret_error(old: str, new: str, env: dict[str, str] | None = None, text: str = MINIMAL) -> str:
    assert old in text
    message = error_of(text.replace(old, new, 1), env)
    assert LEAK not in message and LEAK[3:15] not in message
    return message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "    auth:\n" + TOKEN,
            f"    auth: {LEAK}\n",
            f"c.yaml:4: accounts[0].auth: expected the account's authentication (a mapping), got {HIDDEN}",
            id="token-where-auth-belongs",
        ),
        pytest.param(
            "    auth:\n" + TOKEN,
            f"    auth: {{type: token, {LEAK}}}\n",
            "c.yaml:4: accounts[0].auth: unknown key (not shown: it may be a secret); expected one of: type, "
            "token, token_file",
            id="token-as-a-key",
        ),
        pytest.param(
            "token: ${HWC_TOKEN}",
            f"token:{LEAK}: x",
            "c.yaml:6: accounts[0].auth: unknown key (not shown: it may be a secret); expected one of: type, "
            "token, token_file",
            id="token-glued-to-its-key",
        ),
        pytest.param(
            "type: token",
            f"type: {LEAK}",
            f"c.yaml:5: accounts[0].auth.type: expected one of token, password, aksk, got {HIDDEN}",
            id="token-as-the-type",
        ),
        pytest.param(
            "type: token",
            "type: [token]",
            "c.yaml:5: accounts[0].auth.type: expected a string, token, password or aksk, got a list",
            id="type-a-list",
        ),
    ],
)
def test_a_secret_in_the_wrong_place_is_not_quoted(old: str, new: str, expected: str) -> None:
    assert secret_error(old, new) == expected


def test_a_typo_in_an_auth_key_is_still_named() -> None:
    assert secret_error("token: ${HWC_TOKEN}", "tokne: ${HWC_TOKEN}") == (
        "c.yaml:6: accounts[0].auth.tokne: unknown key 'tokne'; did you mean 'token'? expected one of: type, "
        "token, token_file"
    )


def test_type_errors_quote_short_values_only() -> None:
    text = MINIMAL.replace(f"tasks: [{EVS_TASK}]", f"tasks: {'x' * 60}")
    expected = f"c.yaml:12: services[0].tasks: expected a list of task IDs, got the string '{'x' * 37}...'"
    assert error_of(text) == expected


PROXY = "    auth:\n" + TOKEN


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            f"http://bob:{LEAK}@proxy example:3128",
            "c.yaml:7: accounts[0].proxy: expected an http:// or https:// URL without query or fragment, got "
            "'http://<secret>@proxy example:3128'",
            id="invalid-url",
        ),
        pytest.param(
            f"bob:{LEAK}@proxy.example.com:3128",
            "c.yaml:7: accounts[0].proxy: expected an http:// or https:// URL without query or fragment, got "
            "'<secret>@proxy.example.com:3128'",
            id="no-scheme",
        ),
        pytest.param(
            f"http://bob:{LEAK}@proxy.example.com:31x8",
            "c.yaml:7: accounts[0].proxy: expected an http:// or https:// URL without query or fragment, got "
            "'http://<secret>@proxy.example.com:31x8'",
            id="bad-port",
        ),
    ],
)
def test_an_invalid_proxy_url_hides_its_user_info(value: str, expected: str) -> None:
    assert secret_error(PROXY, PROXY + f"    proxy: '{value}'\n") == expected


def test_a_valid_proxy_with_user_info_is_accepted_and_hidden_from_repr() -> None:
    text = MINIMAL.replace(PROXY, PROXY + f"    proxy: http://bob:{LEAK}@proxy.example.com:3128\n")
    config = parse_config(text, env={"HWC_TOKEN": "t"})
    assert config.accounts["prod"].proxy == f"http://bob:{LEAK}@proxy.example.com:3128"
    assert LEAK not in repr(config)


CUSTOM_SPEC = """
custom_services:
  - name: turbo
    endpoints: {huaweicloud: "https://sfs-turbo.{region}.myhuaweicloud.com"}
    status:
      path: /v1/{project_id}/jobs/{task_id}
      state: /status
      states: {RUNNING: running, SUCCESS: succeeded, FAIL: failed}
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            "    tasks:",
            f"    endpoint: https://bob:{LEAK}@evs.example.com\n    tasks:",
            "c.yaml:12: services[0].endpoint",
            id="service-endpoint",
        ),
        pytest.param(
            "    tasks:",
            f"    endpoint: https://bob:{LEAK[:9]}/{LEAK[9:]}@evs.example.com\n    tasks:",
            "c.yaml:12: services[0].endpoint",
            id="slash-in-the-password",
        ),
        pytest.param(
            "    tasks:",
            f"    endpoint: 'bob:{LEAK} @evs.example.com'\n    tasks:",
            "c.yaml:12: services[0].endpoint",
            id="no-scheme-and-a-space",
        ),
        pytest.param(
            PROXY,
            PROXY + f"    iam_endpoint: https://bob:{LEAK}@iam.example.com/v3\n",
            "c.yaml:7: accounts[0].iam_endpoint",
            id="iam-endpoint",
        ),
        pytest.param(
            PROXY,
            PROXY + "    discover:\n      cloud_trace:\n        service_types: [EVS]\n"
            f"        endpoint: https://bob:{LEAK}@cts.{{region}}.example.com\n",
            "c.yaml:10: accounts[0].discover.cloud_trace.endpoint",
            id="cloud-trace-endpoint",
        ),
    ],
)
def test_user_info_in_an_endpoint_is_refused(old: str, new: str, expected: str) -> None:
    assert secret_error(old, new) == f"{expected}: {USER_INFO}"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            '"https://sfs-turbo.{region}.myhuaweicloud.com"',
            f'"https://bob:{LEAK}@sfs-turbo.{{region}}.myhuaweicloud.com"',
            "c.yaml:4: custom_services[0].endpoints.huaweicloud",
            id="template",
        ),
        pytest.param(
            "    status:",
            f"    region_endpoints: {{huaweicloud: {{eu-west-101: 'https://bob:{LEAK}@sfs.example.eu'}}}}\n    status:",
            "c.yaml:5: custom_services[0].region_endpoints.huaweicloud.eu-west-101",
            id="region-endpoint",
        ),
    ],
)
def test_user_info_in_a_custom_service_endpoint_is_refused(old: str, new: str, expected: str) -> None:
    assert secret_error(old, new, text=CUSTOM_SPEC + MINIMAL) == f"{expected}: {USER_INFO}"


AKSK = "      type: aksk\n      access_key: ${HWC_AK}\n      secret_key: ${HWC_SK}\n"
AK_OK = "HPUAL0FNJ3EXAMPLE0001"


@pytest.mark.parametrize(
    ("auth", "env", "expected"),
    [
        pytest.param(
            AKSK,
            {"HWC_AK": f"HPUA {LEAK}", "HWC_SK": LEAK},
            f"c.yaml:6: accounts[0].auth.access_key: ${{HWC_AK}} contains whitespace; {NO_SPACE}",
            id="access-key-with-a-space",
        ),
        pytest.param(
            AKSK,
            {"HWC_AK": AK_OK, "HWC_SK": LEAK + "\n"},
            f"c.yaml:7: accounts[0].auth.secret_key: ${{HWC_SK}} ends in a newline; {NO_SPACE}",
            id="secret-key-ends-in-a-newline",
        ),
        pytest.param(
            AKSK,
            {"HWC_AK": AK_OK, "HWC_SK": LEAK + "\r\n"},
            f"c.yaml:7: accounts[0].auth.secret_key: ${{HWC_SK}} ends in a newline; {NO_SPACE}",
            id="secret-key-ends-in-crlf",
        ),
        pytest.param(
            AKSK.replace("${HWC_SK}", f"'{LEAK} '"),
            {"HWC_AK": AK_OK},
            f"c.yaml:7: accounts[0].auth.secret_key: the value ends in whitespace; {NO_SPACE}",
            id="inline-secret-key-ends-in-a-space",
        ),
        pytest.param(
            AKSK + "      security_token: ${HWC_ST}\n",
            {"HWC_AK": AK_OK, "HWC_SK": LEAK, "HWC_ST": "\t" + LEAK},
            f"c.yaml:8: accounts[0].auth.security_token: ${{HWC_ST}} starts with whitespace; {NO_SPACE}",
            id="security-token-starts-with-a-tab",
        ),
        pytest.param(
            "      type: token\n      token: |\n        " + LEAK + "\n",
            {},
            f"c.yaml:6: accounts[0].auth.token: the value ends in a newline; {NO_SPACE}",
            id="token-as-a-block-scalar",
        ),
        pytest.param(
            "      type: password\n      user_name: u\n      domain_name: d\n      password: ${HWC_PW}\n",
            {"HWC_PW": f"{LEAK[:8]} {LEAK[8:]}"},
            f"c.yaml:8: accounts[0].auth.password: ${{HWC_PW}} contains whitespace; {NO_SPACE}",
            id="password-with-a-space",
        ),
        pytest.param(
            "      type: token\n      token: Bearer:${HWC_TOKEN}\n",
            {"HWC_TOKEN": LEAK + " "},
            f"c.yaml:6: accounts[0].auth.token: the value ends in whitespace; {NO_SPACE}",
            id="token-partly-from-env",
        ),
    ],
)
def test_credentials_with_whitespace_are_refused(auth: str, env: dict[str, str], expected: str) -> None:
    with structlog.testing.capture_logs() as logs:
        assert secret_error(TOKEN, auth, env) == expected
    assert LEAK not in repr(logs)


def test_a_secret_file_keeps_its_trailing_newline_dropped_but_not_whitespace_inside(tmp_path: Path) -> None:
    secret = tmp_path / "sk"
    text = MINIMAL.replace(TOKEN, f"      type: aksk\n      access_key: {AK_OK}\n      secret_key_file: {secret}\n")
    for written in (LEAK + "\n", LEAK + "\r\n", f"  {LEAK}\n\n"):  # echo, a Windows editor, a sloppy one
        secret.write_text(written, encoding="utf-8")
        assert reveal(parse_config(text, env={}).accounts["prod"].auth.secret_key) == LEAK
    secret.write_text(f"{LEAK[:8]}\n{LEAK[8:]}\n", encoding="utf-8")
    assert error_of(text, {}) == (
        f"c.yaml:7: accounts[0].auth.secret_key_file: secret file {secret} contains whitespace; {NO_SPACE}"
    )


def test_a_rotated_secret_file_with_whitespace_is_not_sent(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(LEAK + "\n", encoding="utf-8")
    token = parse_config(MINIMAL.replace("token: ${HWC_TOKEN}", f"token_file: {secret}"), env={}).accounts["prod"]
    assert token.auth.token is not None
    secret.write_text(f"{LEAK} {LEAK}\n", encoding="utf-8")
    with pytest.raises(SecretError) as caught:
        token.auth.token.reveal()
    assert str(caught.value) == f"secret file {secret} contains whitespace; {NO_SPACE}"


def test_without_secrets_a_readable_secret_file_with_whitespace_still_fails(tmp_path: Path) -> None:
    from exporter.schema import WithoutSecrets

    secret = tmp_path / "token"
    secret.write_text(f"{LEAK} x\n", encoding="utf-8")
    env = WithoutSecrets({})
    with pytest.raises(ConfigError) as caught:
        parse_config(MINIMAL.replace("token: ${HWC_TOKEN}", f"token_file: {secret}"), file="c.yaml", env=env)
    assert str(caught.value) == (
        f"c.yaml:6: accounts[0].auth.token_file: secret file {secret} contains whitespace; {NO_SPACE}"
    )
    assert env.notes == []
