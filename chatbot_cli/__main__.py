from chatbot_cli.cli.app import main

main()
