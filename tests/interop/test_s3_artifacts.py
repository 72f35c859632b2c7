"""Artifacts on S3 through fsspec/s3fs, against moto's standalone server (a real S3 HTTP API
on loopback): register, load, tampering caught on load, bundle export, AWS_* credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_support import moto_server

import mlwarden as mw

BUCKET = "warden-artifacts"


def s3_client(url: str, key: str = "testing", secret: str = "testing"):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )


def use_credentials(monkeypatch: pytest.MonkeyPatch, url: str, key: str, secret: str) -> None:
    """The usual AWS environment, and nothing else, tells Warden where S3 is and who it is."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with moto_server() as url:
        s3_client(url).create_bucket(Bucket=BUCKET)
        yield url


@pytest.fixture
def s3_warden(
    s3_url: str, store_uri: str, monkeypatch: pytest.MonkeyPatch, request
) -> Iterator[mw.Warden]:
    use_credentials(monkeypatch, s3_url, "testing", "testing")
    prefix = f"s3://{BUCKET}/{request.node.name.replace('[', '-').rstrip(']')}"
    wd = mw.Warden(store_uri, artifacts=prefix, actor="alice")
    yield wd
    wd.close()


def register(wd: mw.Warden, fitted_pipeline, small_adult) -> mw.ModelVersion:
    train, _ = small_adult
    return wd.register_model(
        "credit-risk",
        fitted_pipeline,
        train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
        sensitive_features=["sex"],
        risk_tier="low",
    )


def object_key(wd: mw.Warden, digest: str) -> str:
    prefix = wd.settings.resolved_artifacts().removeprefix(f"s3://{BUCKET}/")
    return f"{prefix}/sha256/{digest[:2]}/{digest[2:]}"


def test_register_and_load_through_s3(s3_warden, s3_url, fitted_pipeline, small_adult):
    mv = register(s3_warden, fitted_pipeline, small_adult)
    # the blob is in the bucket, under its content address
    key = object_key(s3_warden, mv.artifact_sha256)
    body = s3_client(s3_url).get_object(Bucket=BUCKET, Key=key)
    assert len(body["Body"].read()) > 0
    _, test = small_adult
    X = test.drop(columns="income").head(50)
    loaded = s3_warden.load_model(mv.ref)
    assert (loaded.predict(X) == fitted_pipeline.predict(X)).all()
    # a second store opened on the same bucket reads the same version back
    other = mw.Warden(s3_warden.uri, artifacts=s3_warden.settings.resolved_artifacts())
    try:
        assert (other.load_model(mv.ref).predict(X) == fitted_pipeline.predict(X)).all()
    finally:
        other.close()


def test_changed_object_is_an_integrity_error(s3_warden, s3_url, fitted_pipeline, small_adult):
    mv = register(s3_warden, fitted_pipeline, small_adult)
    s3_client(s3_url).put_object(
        Bucket=BUCKET, Key=object_key(s3_warden, mv.artifact_sha256), Body=b"not the model"
    )
    with pytest.raises(mw.IntegrityError, match="corrupted"):
        s3_warden.load_model(mv.ref)
    s3_client(s3_url).delete_object(Bucket=BUCKET, Key=object_key(s3_warden, mv.artifact_sha256))
    with pytest.raises(mw.IntegrityError, match="missing"):
        s3_warden.load_model(mv.ref)


def test_bundle_export_of_an_s3_backed_version(
    s3_warden, fitted_pipeline, small_adult, tmp_path: Path
):
    mv = register(s3_warden, fitted_pipeline, small_adult)
    path = s3_warden.bundle(mv.ref, tmp_path / "bundle.zip")
    result = mw.reports.verify_bundle(path)
    assert result.ok, result.summary()
    assert result.ref == mv.ref


def test_credentials_come_from_the_aws_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fitted_pipeline, small_adult
):
    # moto checks signatures once its first calls (creating the user and its key) are done
    with moto_server(auth_free_calls=4) as url:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=url,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            region_name="us-east-1",
        )
        iam.create_user(UserName="warden")
        iam.put_user_policy(
            UserName="warden",
            PolicyName="s3",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="warden")["AccessKey"]
        s3_client(url, key["AccessKeyId"], key["SecretAccessKey"]).create_bucket(Bucket=BUCKET)

        use_credentials(monkeypatch, url, key["AccessKeyId"], "wrong-secret")
        wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=f"s3://{BUCKET}/auth")
        try:
            with pytest.raises(PermissionError):
                wd.artifacts.put(b"refused")
        finally:
            wd.close()

        use_credentials(monkeypatch, url, key["AccessKeyId"], key["SecretAccessKey"])
        wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=f"s3://{BUCKET}/auth")
        try:
            mv = register(wd, fitted_pipeline, small_adult)
            assert wd.load_model(mv.ref) is not None
        finally:
            wd.close()
