// Exact 2x2 unsigned multiplier with mangled PDKGEN cell names and appended cell definitions,
// as in the 2017 generic files (written for axdnn's tests).
module mul2x2_generic(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [3:0] O;
  wire [16:0] N;
  assign N[0] = A[0];
  assign N[2] = A[1];
  assign N[4] = B[0];
  assign N[6] = B[1];
  PDKGEPDKGENNAND2X1 n8(.A(N[0]), .B(N[4]), .Y(N[8]));
  PDKGENAND2X1 n9(.A(N[2]), .B(N[4]), .Y(N[9]));
  PDKGEPDKGENNAND2X1 n10(.A(N[0]), .B(N[6]), .Y(N[10]));
  NPDKGEPDKGENNAND2X1 n11(.A(N[2]), .B(N[6]), .Y(N[11]));
  INVX1 n16(.A(N[11]), .Y(N[16]));
  PDKGENXPDKGENOR2X1 n12(.A(N[9]), .B(N[10]), .Y(N[12]));
  PDKGENHAX1 n13(.A(N[9]), .B(N[10]), .YC(N[13]));
  PDKGENHAX1 n14(.A(N[16]), .B(N[13]), .YS(N[14]), .YC(N[15]));
  assign O[0] = N[8];
  assign O[1] = N[12];
  assign O[2] = N[14];
  assign O[3] = N[15];
endmodule

/* mod */
module PDKGENHAX1( input A, input B, output YS, output YC );
    assign YS = A ^ B;
    assign YC = A & B;
endmodule
/* mod */
module PDKGENAND2X1(input A, input B, output Y );
     assign Y = A & B;
endmodule
