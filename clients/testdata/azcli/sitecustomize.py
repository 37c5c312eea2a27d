# Test-side workarounds for defects of Debian's azure-cli 2.45 packaging, each
# of which makes a command fail inside the CLI before it sends any request,
# whatever server it talks to. The az CLI tests put this directory on
# PYTHONPATH; Python imports sitecustomize at startup. Each workaround applies
# only when its defect is present and changes nothing else; none touches what
# the CLI sends or how it reads an answer.
#
# 1. azure-cli#25826: the CLI's API profile asks for Microsoft.Compute
#    2022-11-01, but the packaged azure-mgmt-compute 29.0.0 has no v2022_11_01
#    module, so `az vm show` and `az backup protection enable-for-vm` fail
#    ("API version 2022-11-01 does not have operation group
#    'virtual_machines'"). Pin the CLI's compute calls to 2022-08-01 when the
#    2022-11-01 module is missing. Safehold accepts both versions.
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

# 4. The same defect for Microsoft.Network: the CLI's profile asks for
#    2022-01-01, which the packaged azure-mgmt-network lacks (its newest
#    module is v2022_07_01), so every `az network` command fails while it
#    loads its arguments ("AttributeError: 'NoneType' object has no
#    attribute 'standard_medium'", _params.py line 113), before any request.
#    Pin the profile's network version to 2022-07-01 when the 2022-01-01
#    module is missing: the commands built on the SDK then send 2022-07-01
#    (az network nic), those generated with their own version (aaz: vnet,
#    nsg, public-ip) still send 2022-01-01. Safehold accepts both.
try:
    import importlib.util

    if importlib.util.find_spec("azure.mgmt.network.v2022_01_01") is None and importlib.util.find_spec("azure.mgmt.network.v2022_07_01") is not None:
        from azure.cli.core.profiles import _shared

        _shared.AZURE_API_PROFILES["latest"][_shared.ResourceType.MGMT_NETWORK] = "2022-07-01"
except Exception:  # never break the CLI itself
    pass

# Workarounds 2 and 3 patch a module when the CLI imports it (a finder put
# first on sys.meta_path), so a command that never loads it pays nothing.
import re
import sys


class _PatchAfterImport:
    def __init__(self, patches):
        self.patches = patches  # (compiled full-name pattern, fn(module))

    def find_spec(self, fullname, path, target=None):
        fns = [fn for pattern, fn in self.patches if pattern.fullmatch(fullname)]
        if not fns:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            run(module)
            for fn in fns:
                try:
                    fn(module)
                except Exception:  # never break the CLI itself
                    pass

        loader.exec_module = exec_module
        return spec


# 2. The CLI's role module (azure/cli/command_modules/role/custom.py, e.g.
#    line 62 `definitions_client.config.subscription_id` and line 198
#    `assignments_client.config.subscription_id`) was written for
#    azure-mgmt-authorization 0.61, whose operation groups have `config`;
#    the packaged 3.0.0 keeps it as `_config`, so every `az role definition`
#    and `az role assignment` command fails with "AttributeError:
#    'RoleAssignmentsOperations' object has no attribute 'config'". Give the
#    operation groups that lack it a read-only `config` returning `_config`.
def _authorization_config(module):
    for name in dir(module):
        cls = getattr(module, name)
        if isinstance(cls, type) and name.endswith("Operations") and not hasattr(cls, "config"):
            cls.config = property(lambda self: self._config)


# 3. `az backup protection disable --retain-as-per-policy` sets the item's
#    protectionState to ProtectionState.backups_suspended
#    (azure/cli/command_modules/backup/custom.py line 1482), which the
#    packaged azure-mgmt-recoveryservicesbackup 5.1.0b3 lacks (Azure's
#    value "BackupsSuspended" came in a later release): "AttributeError:
#    backups_suspended". Let the enum answer that name with Azure's value.
def _backups_suspended(module):
    state = module.ProtectionState
    if "BACKUPS_SUSPENDED" not in state._member_map_:
        state._member_map_["BACKUPS_SUSPENDED"] = "BackupsSuspended"


try:
    sys.meta_path.insert(0, _PatchAfterImport([
        (re.compile(r"azure\.mgmt\.authorization\.v[0-9a-z_]+\.operations"), _authorization_config),
        (re.compile(r"azure\.mgmt\.recoveryservicesbackup\.activestamp\.models"), _backups_suspended),
    ]))
except Exception:  # never break the CLI itself
    pass


# 5. The packaged azure-mgmt-network 23.0.0b1 is a multi-API package with one
#    operations module (azure.mgmt.network.operations, each operation group
#    taking the client's api-version); its versioned folders hold models
#    only. The CLI's generic commands over it (az network nic show, list,
#    delete) import the versioned path azure.mgmt.network.v2022_07_01.
#    operations and fail ("No module named ...") before any request. Answer
#    a missing versioned operations module with the package's own.
class _NetworkOperationsAlias:
    pattern = re.compile(r"azure\.mgmt\.network\.v\d{4}_\d\d_\d\d(_preview)?\.operations")

    def find_spec(self, fullname, path, target=None):
        if not self.pattern.fullmatch(fullname):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                return spec  # the real module: nothing to work around
        import importlib.util

        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        import importlib

        return importlib.import_module("azure.mgmt.network.operations")

    def exec_module(self, module):
        pass


try:
    sys.meta_path.insert(0, _NetworkOperationsAlias())
except Exception:  # never break the CLI itself
    pass
