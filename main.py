import mainloop

mainloop.main()
