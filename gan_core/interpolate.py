"""`python -m gan_core.interpolate`: the entry point; the tool itself is gan_core/cli/interpolate.py.

`gan_core.interpolate` is also the library's function (gan_core.latent.interpolate).
Importing this module by name would put the module in that attribute's place, so an
import hands back the function instead: the name keeps one meaning.
"""
import sys

if __name__ == "__main__":
    from .cli.common import run_main
    from .cli.interpolate import main
    run_main(main)
else:
    from .latent import interpolate as _function
    sys.modules[__name__] = _function
