"""The build's one step that pyproject.toml cannot say: the `treeindex` command.

`treeindex` is a small C program (treeindex/bin/client.c) that hands a search to a running
`treeindex server` without starting Python (1 ms instead of 20-25), and everything else
to `treeindex-python`, the Python command installed beside it. Where it cannot be
compiled (no C compiler), or with TREEINDEX_PYTHON_COMMAND=1 in the build's environment,
`treeindex` is a copy of `treeindex-python`: the same commands, each starting Python.
"""

import os
import shutil

from setuptools import setup
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

SOURCE = os.path.join("treeindex", "bin", "client.c")

# (setuptools' own copy of distutils: importable once setuptools is)
from distutils.command.build_scripts import build_scripts  # noqa: E402


class BuildScripts(build_scripts):
    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_dir, "treeindex")
        if os.path.exists(target):
            os.remove(target)
        if not os.environ.get("TREEINDEX_PYTHON_COMMAND") and self._compile(target):
            return
        shutil.copy2(os.path.join(self.build_dir, "treeindex-python"), target)

    def _compile(self, target: str) -> bool:
        from distutils.ccompiler import new_compiler
        from distutils.sysconfig import customize_compiler

        try:
            compiler = new_compiler()
            customize_compiler(compiler)
            temp = os.path.join(self.build_dir, "client-build")
            objects = compiler.compile([SOURCE], output_dir=temp, extra_postargs=["-O2"])
            compiler.link_executable(objects, "treeindex", output_dir=self.build_dir)
        except (CCompilerError, CompileError, ExecError, LinkError, PlatformError,
                OSError) as e:
            print(f"treeindex: the C front end could not be built ({e}); `treeindex` "
                  "will be the Python command")
            return False
        finally:
            shutil.rmtree(os.path.join(self.build_dir, "client-build"), ignore_errors=True)
        return os.path.exists(target)


setup(cmdclass={"build_scripts": BuildScripts})
