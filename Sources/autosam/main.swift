import AutoSAMCLI

AutoSAM.main()
