from hrkd_lite.cli import main

raise SystemExit(main())
