from chatbot_cli.cli.entry import main

main()
