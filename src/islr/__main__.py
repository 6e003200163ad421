from islr.cli import main

raise SystemExit(main())
