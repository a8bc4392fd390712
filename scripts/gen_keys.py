"""Print fresh secrets for config.yaml or the environment: `python -m scripts.gen_keys`.

Keep them out of version control. To rotate a key, put the new one first and keep the old one after it
until every token or value sealed with it has expired or been re-encrypted.
"""

from __future__ import annotations

from datetime import date

from server.core.config import new_secret


def main() -> None:
    kid = f"k{date.today():%Y%m%d}"
    print(f"SYGZ_AUTH__JWT_KEYS={kid}:{new_secret()}")
    print(f"SYGZ_CRYPTO__KEYS={kid}:{new_secret(32)}")
    print(f"SYGZ_CRYPTO__HASH_KEY={new_secret()}")


if __name__ == "__main__":
    main()
