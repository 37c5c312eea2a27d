# Test-side workaround for a defect of Debian's azure-cli 2.45 (azure-cli#25826):
# its API profile asks for Microsoft.Compute 2022-11-01, but the packaged
# azure-mgmt-compute 29.0.0 has no v2022_11_01 module, so `az vm show` and
# `az backup protection enable-for-vm` fail inside the CLI before sending any
# request ("API version 2022-11-01 does not have operation group
# 'virtual_machines'"). The az CLI test puts this directory on PYTHONPATH;
# Python imports sitecustomize at startup, and this pins the CLI's compute
# calls to 2022-08-01 only when the 2022-11-01 module is missing. Nothing
# changes on a CLI whose SDK has it. Safehold accepts both versions.
try:
    import importlib.util

    if importlib.util.find_spec("azure.mgmt.compute.v2022_11_01") is None:
        from azure.cli.core.profiles import _shared

        _profile = _shared.AZURE_API_PROFILES["latest"][_shared.ResourceType.MGMT_COMPUTE]
        for _group, _version in list(_profile.profile.items()):
            if _version == "2022-11-01":
                _profile.profile[_group] = "2022-08-01"
except Exception:  # never break the CLI itself
    pass
