from georoute.cli import main

raise SystemExit(main())
